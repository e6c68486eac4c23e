//! The stored and transferred shapes: one serde representation for JSON and DynamoDB alike.
//!
//! Attribute names are camelCase everywhere (API bodies, DynamoDB items, cursors): one name per
//! field, so no reader ever has to guess which spelling a writer used.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a story stands in its workflow. The wire names are the ones product people read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StoryStatus {
    Draft,
    Ready,
    #[serde(rename = "In Progress")]
    InProgress,
    Done,
    Blocked,
}

impl StoryStatus {
    pub const ALL: [StoryStatus; 5] = [
        StoryStatus::Draft,
        StoryStatus::Ready,
        StoryStatus::InProgress,
        StoryStatus::Done,
        StoryStatus::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StoryStatus::Draft => "Draft",
            StoryStatus::Ready => "Ready",
            StoryStatus::InProgress => "In Progress",
            StoryStatus::Done => "Done",
            StoryStatus::Blocked => "Blocked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// The six INVEST criteria: what the deterministic check and the AI review judge a story by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Criterion {
    Independent,
    Negotiable,
    Valuable,
    Estimable,
    Small,
    Testable,
}

impl Criterion {
    pub const ALL: [Criterion; 6] = [
        Criterion::Independent,
        Criterion::Negotiable,
        Criterion::Valuable,
        Criterion::Estimable,
        Criterion::Small,
        Criterion::Testable,
    ];
}

/// A user story as stored and as returned by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Story {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    pub title: String,
    #[serde(default)]
    pub as_a: String,
    #[serde(default)]
    pub i_want: String,
    #[serde(default)]
    pub so_that: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_point: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_email: Option<String>,
    pub status: StoryStatus,
    /// Set when someone moved the story to Ready despite INVEST warnings; kept as a record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_warnings: bool,
    /// While Blocked: the status it returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_from: Option<StoryStatus>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who changed it last, as the authorizer verified them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
    /// The code task currently working on this story; at most one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_task_id: Option<String>,
    /// The story's pull request was merged: when, as which commit, by whom. Recorded even when
    /// the workflow refused to move the story to Done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeRecord>,
    /// The advisory AI INVEST review, for the content it names (`contentHash`); never a gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_review: Option<AiReview>,
    /// How many children it has and how many of them are Done: kept by every write that adds,
    /// removes, moves or finishes a child (in the same transaction), so a level of the tree is
    /// one read. Absent on a story that never had a child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_child_count: Option<u32>,
    /// Reference documents: links and uploaded files (`rules::documents`).
    #[serde(default, skip_serializing_if = "StoryDocuments::is_empty")]
    pub documents: StoryDocuments,
}

/// A story's reference documents. The files' bytes live in the documents bucket under
/// `rules::documents::object_key`; the story keeps what describes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryDocuments {
    #[serde(default)]
    pub links: Vec<DocumentLink>,
    #[serde(default)]
    pub files: Vec<DocumentFile>,
}

impl StoryDocuments {
    pub fn is_empty(&self) -> bool {
        self.links.is_empty() && self.files.is_empty()
    }
}

/// A link to a page elsewhere (a spec, a design, a ticket): http or https only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentLink {
    pub url: String,
    pub title: String,
}

/// An uploaded file that passed the checks (`rules::documents::FileKind`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentFile {
    /// Minted by the upload request; names the object in the bucket.
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub added_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Pending,
    Done,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Concern,
    Fail,
}

/// A model's verdict on one INVEST criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReviewCriterion {
    pub criterion: Criterion,
    pub verdict: Verdict,
    pub message: String,
    pub suggestion: String,
}

/// The AI INVEST review of one version of a story's content and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiReview {
    pub status: ReviewStatus,
    /// SHA-256 of the story's content and tests the review is about.
    pub content_hash: String,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Computed by AIPM from the verdicts (pass 1, concern ½, fail 0), never asked of the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria: Vec<ReviewCriterion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub prompt_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// A merge of the story's pull request, as GitHub reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeRecord {
    pub pr_number: u64,
    pub merged_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_by: Option<String>,
}

impl Story {
    pub fn summary(&self) -> StorySummary {
        StorySummary {
            id: self.id,
            title: self.title.clone(),
            status: self.status,
        }
    }
}

/// Enough of a story to list it as someone's child or name it in a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorySummary {
    pub id: u64,
    pub title: String,
    pub status: StoryStatus,
}

/// A story named from another one (a link, a blocker), with the key people know it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkedStory {
    pub id: u64,
    pub key: String,
    pub title: String,
    pub status: StoryStatus,
}

/// Why code was generated for a story although stories it waits for were not Done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockerOverride {
    pub reason: String,
    /// The open blockers at that moment, as `KEY-n`.
    pub blockers: Vec<String>,
}

/// Where an acceptance test stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TestStatus {
    Draft,
    Ready,
    Pass,
    Fail,
}

/// A Given/When/Then acceptance test of one story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcceptanceTest {
    pub story_id: u64,
    pub id: String,
    /// `AT-n`, numbered per project when the test is written and never changed: CI reports name
    /// the test by it. Tests written before keys have none until `scripts/migrate-projects`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub title: String,
    #[serde(default)]
    pub given: Vec<String>,
    #[serde(default)]
    pub when: Vec<String>,
    #[serde(default)]
    pub then: Vec<String>,
    pub status: TestStatus,
    /// Who last set the manual Pass/Fail (their display name, else their `sub`), and when: what
    /// an Uncovered test's status rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_set_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_set_at: Option<DateTime<Utc>>,
    /// Set when the story's content changed after the test was written.
    #[serde(default)]
    pub needs_review: bool,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create a story: everything but what the system assigns.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStory {
    pub parent_id: Option<u64>,
    pub title: String,
    pub as_a: String,
    pub i_want: String,
    pub so_that: String,
    pub description: String,
    pub components: Vec<String>,
    pub story_point: Option<u32>,
    pub assignee_email: Option<String>,
    /// Who asked for it, as the authorizer verified them.
    pub created_by: Option<crate::history::Author>,
}

impl NewStory {
    /// The stored story once the repository has allocated its id.
    pub fn into_story(self, id: u64, now: DateTime<Utc>) -> Story {
        Story {
            id,
            parent_id: self.parent_id,
            title: self.title,
            as_a: self.as_a,
            i_want: self.i_want,
            so_that: self.so_that,
            description: self.description,
            components: self.components,
            story_point: self.story_point,
            assignee_email: self.assignee_email,
            status: StoryStatus::Draft,
            accept_warnings: false,
            blocked_from: None,
            active_task_id: None,
            merge: None,
            ai_review: None,
            child_count: None,
            done_child_count: None,
            documents: Default::default(),
            version: 1,
            created_at: now,
            updated_at: now,
            updated_by: self.created_by.as_ref().map(|author| author.sub.clone()),
            created_by: self.created_by.map(|author| author.sub),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_wire_names_round_trip() {
        for status in StoryStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(StoryStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(StoryStatus::parse("in progress"), None);
    }

    #[test]
    fn task_timestamps_sort_as_strings() {
        let early = DateTime::parse_from_rfc3339("2026-11-22T10:00:05.100Z")
            .unwrap()
            .with_timezone(&Utc);
        let late = DateTime::parse_from_rfc3339("2026-11-22T10:00:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let text = |time| {
            let mut bytes = Vec::new();
            sortable_time::serialize(&time, &mut serde_json::Serializer::new(&mut bytes)).unwrap();
            String::from_utf8(bytes).unwrap()
        };
        assert_eq!(text(early), "\"2026-11-22T10:00:05.100000Z\"");
        assert!(text(early) < text(late));
        assert_eq!(TaskStatus::TimedOut.as_str(), "timed_out");
        assert_eq!(
            serde_json::to_string(&TaskStatus::TimedOut).unwrap(),
            "\"timed_out\""
        );
    }

    #[test]
    fn story_uses_camel_case_attribute_names() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let story = NewStory {
            created_by: None,
            parent_id: Some(7),
            title: "Export".into(),
            as_a: "a PM".into(),
            i_want: "CSV export".into(),
            so_that: "I can report".into(),
            description: String::new(),
            components: vec!["api".into()],
            story_point: Some(3),
            assignee_email: Some("a@b.io".into()),
        }
        .into_story(9, now);
        let json = serde_json::to_value(&story).unwrap();
        for key in [
            "id",
            "parentId",
            "asA",
            "iWant",
            "soThat",
            "storyPoint",
            "assigneeEmail",
            "createdAt",
            "updatedAt",
        ] {
            assert!(json.get(key).is_some(), "missing {key} in {json}");
        }
        assert_eq!(json["status"], "Draft");
        let back: Story = serde_json::from_value(json).unwrap();
        assert_eq!(back, story);
    }
}

/// Where a code-generation task stands. Only `queued` and `running` are active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
}

impl TaskStatus {
    pub fn is_active(self) -> bool {
        matches!(self, TaskStatus::Queued | TaskStatus::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Running => "running",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::TimedOut => "timed_out",
        }
    }
}

/// How far generate-code got in handing a task over; a retry resumes from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandOffStage {
    Recorded,
    PullRequestOpened,
    Enqueued,
}

/// Timestamps used as index sort keys: always six fractional digits, so that string order is
/// time order (chrono's default drops trailing zeros and breaks that).
pub mod sortable_time {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        time: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// A timestamp that serializes in the sortable form, for writing index keys directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SortableTime(#[serde(with = "sortable_time")] pub DateTime<Utc>);

impl std::fmt::Display for SortableTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }
}

/// What a task does: the first run on a story's branch, or a revision of its pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    #[default]
    Generate,
    Revise,
}

/// What asked for a task: a GitHub review or comment, a person in AIPM, or a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// A submitted review (changes requested, or one that mentions AIPM); `id` is its id.
    Review,
    /// A conversation comment on the pull request that mentions AIPM; `id` is its id.
    Comment,
    /// "Request changes" in AIPM itself; the feedback travels in `body`.
    Request,
    /// A retry of a failed, timed-out or cancelled task; `id` is that task's id.
    Retry,
}

/// One reason a task exists. Bodies are untrusted reviewer input, kept for the brief.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    pub kind: TriggerKind,
    pub id: String,
    pub sender: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<String>,
}

impl Trigger {
    /// A trigger with what every kind has; the rest (state, body, link, delivery) is added by
    /// the caller that knows it.
    pub fn new(
        kind: TriggerKind,
        id: impl Into<String>,
        sender: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Trigger {
            kind,
            id: id.into(),
            sender: sender.into(),
            at,
            state: None,
            body: None,
            url: None,
            delivery_id: None,
        }
    }
}

/// What a revision did about one review comment, as replied on its thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentReply {
    pub comment_id: u64,
    pub disposition: String,
}

/// The durable record of one code-generation job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeTask {
    pub task_id: String,
    pub story_id: u64,
    pub status: TaskStatus,
    pub hand_off: HandOffStage,
    /// While a request is handing the task off, other requests leave it alone until then; a
    /// hand-off that failed clears it so the next request resumes at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hand_off_until: Option<DateTime<Utc>>,
    pub attempt: u32,
    #[serde(default)]
    pub kind: TaskKind,
    /// 0 for the first run on a branch; 1, 2, … for each revision of its pull request.
    #[serde(default)]
    pub revision: u32,
    /// The task this one follows on the same branch (the revised or retried one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    /// Triggers that arrived while this task was active: the next revision's, once it ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_triggers: Vec<Trigger>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<CommentReply>,
    pub branch: String,
    /// The repository the task's branch and pull request are in: its project's link when the
    /// task was recorded. `None` for tasks from before projects: the deployment's repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<crate::project::RepositoryLink>,
    /// The project of the story (`None` for tasks from before projects: the default project),
    /// where the policy is asked when a webhook or the worker acts for the task's requester.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_number: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// A fingerprint of the request body, to tell a retry from a different request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Who started the story's code work (Generate code & PR): a contributor may retry, cancel
    /// and request changes on it. Follow-ups keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// The requester stood as a deployment admin (admin everywhere, audited) when they asked:
    /// what the policy is asked with when a review later revises the task for them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requested_as_deployment_admin: bool,
    /// The story was blocked when the task was asked for, and the requester went ahead anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocker_override: Option<BlockerOverride>,
    #[serde(default)]
    pub cancel_requested: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_changed: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(with = "sortable_time")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "sortable_time")]
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl CodeTask {
    /// A task as it is first recorded: queued, not yet handed off, no run yet.
    pub fn queued(task_id: String, story_id: u64, branch: String, now: DateTime<Utc>) -> Self {
        CodeTask {
            task_id,
            story_id,
            status: TaskStatus::Queued,
            hand_off: HandOffStage::Recorded,
            hand_off_until: None,
            attempt: 0,
            kind: TaskKind::Generate,
            revision: 0,
            parent_task_id: None,
            triggers: Vec::new(),
            pending_triggers: Vec::new(),
            replies: Vec::new(),
            branch,
            repository: None,
            project_id: None,
            pr_number: None,
            pr_url: None,
            idempotency_key: None,
            request_fingerprint: None,
            instructions: None,
            requested_by: None,
            requested_as_deployment_admin: false,
            blocker_override: None,
            cancel_requested: false,
            lease_expires_at: None,
            worker_id: None,
            commit_sha: None,
            files_changed: None,
            log_tail: None,
            error: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
        }
    }

    /// The next task on this task's branch and pull request: a revision for review triggers, or
    /// another run of the same kind for a retry. It is recorded as handed off, since the branch
    /// and pull request exist; only the queue message is left to send.
    pub fn follow_up(&self, triggers: Vec<Trigger>, now: DateTime<Utc>) -> CodeTask {
        let retry = triggers
            .iter()
            .all(|trigger| trigger.kind == TriggerKind::Retry);
        let (kind, revision) = if retry {
            (self.kind, self.revision)
        } else {
            (TaskKind::Revise, self.revision + 1)
        };
        let mut next = CodeTask::queued(
            uuid::Uuid::new_v4().simple().to_string(),
            self.story_id,
            self.branch.clone(),
            now,
        );
        next.hand_off = HandOffStage::Enqueued;
        next.kind = kind;
        next.revision = revision;
        next.parent_task_id = Some(self.task_id.clone());
        // A retried revision answers the same reviews again.
        next.triggers = if retry && self.kind == TaskKind::Revise {
            self.triggers.iter().cloned().chain(triggers).collect()
        } else {
            triggers
        };
        next.repository = self.repository.clone();
        next.project_id = self.project_id.clone();
        next.pr_number = self.pr_number;
        next.pr_url = self.pr_url.clone();
        next.instructions = self.instructions.clone();
        next.requested_by = self.requested_by.clone();
        next.requested_as_deployment_admin = self.requested_as_deployment_admin;
        next
    }

    /// The id of the project the task belongs to (tasks from before projects: the default one).
    pub fn project(&self) -> &str {
        self.project_id
            .as_deref()
            .unwrap_or(crate::project::DEFAULT_PROJECT_ID)
    }

    /// Whether a retry may follow this task.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.status,
            TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::TimedOut
        ) && self.hand_off == HandOffStage::Enqueued
            && self.pr_number.is_some()
    }
}
