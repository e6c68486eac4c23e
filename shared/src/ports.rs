//! Ports: the small capabilities handlers ask for. Each handler takes only the ports it uses,
//! which mirrors the IAM policy its function gets in template.yaml.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{
    AcceptanceTest, CodeTask, HandOffStage, NewStory, Story, StoryStatus, StorySummary,
};
use crate::pagination::{Page, StoryListQuery};
use crate::rules::dependencies::{Link, LinkGraph};

pub use crate::changes::{StoryChanges, TestChanges};

/// Children read per story at most; past this, listings go through GET /stories?parentId=.
pub const MAX_CHILDREN: usize = 1_000;

/// Acceptance tests one story may have: enough for any story small enough to build, and with
/// the 64 KiB body limit it keeps GET /stories/{id} (the story, all its tests, up to
/// [`MAX_CHILDREN`] child summaries and recent tasks) under 3 MB, half of Lambda's 6 MB
/// response limit.
pub const MAX_TESTS_PER_STORY: u32 = 20;

/// Conditions a story update must meet at the moment it is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateGuard {
    /// The version the client last saw (If-Match or `version`).
    pub version: Option<u64>,
    /// The status the transition was checked from.
    pub status: Option<StoryStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    Updated(Box<Story>),
    /// A guard did not hold: someone else changed the story first.
    Conflict,
    NotFound,
}

pub trait StoryRepository: Send + Sync + 'static {
    /// Stores a new story under a freshly allocated id. Fails with `ParentNotFound` when the
    /// parent does not exist (or is being deleted) at the moment of writing.
    /// Stores a new story under the project's next story number.
    fn create(
        &self,
        numbering: crate::project::StoryNumbering,
        story: NewStory,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Story>> + Send;

    fn get(&self, id: u64) -> impl Future<Output = Result<Option<Story>>> + Send;

    /// The stories of `ids` that exist, read concurrently.
    fn get_many(&self, ids: &[u64]) -> impl Future<Output = Result<Vec<Story>>> + Send {
        let reads = futures::future::try_join_all(ids.iter().map(|id| self.get(*id)));
        async move { Ok(reads.await?.into_iter().flatten().collect()) }
    }

    fn list(&self, query: &StoryListQuery) -> impl Future<Output = Result<Page<Story>>> + Send;

    /// The direct children of a story, by id, at most [`MAX_CHILDREN`].
    fn children(&self, id: u64) -> impl Future<Output = Result<Vec<StorySummary>>> + Send;

    /// Writes only the changed fields and bumps the version, if the guard holds. A new parent
    /// must exist at that moment (`ParentNotFound` otherwise).
    fn update(
        &self,
        id: u64,
        changes: &StoryChanges,
        guard: &UpdateGuard,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<UpdateOutcome>> + Send;

    /// Marks a story as being deleted, so no child can be created under it any more. Returns
    /// false if the story does not exist.
    fn mark_deleting(&self, id: u64) -> impl Future<Output = Result<bool>> + Send;

    /// Takes the deletion mark off again (a delete that found it must not go ahead).
    fn unmark_deleting(&self, id: u64) -> impl Future<Output = Result<()>> + Send;

    /// Deletes one story item. Deleting a missing story is not an error (retries converge).
    fn delete(&self, id: u64) -> impl Future<Output = Result<()>> + Send;

    /// Writes the story's AI review without touching its version (it is advisory, not an edit),
    /// only if the story exists and, with `for_hash`, the stored review is for that content.
    /// False when a condition did not hold.
    fn record_ai_review(
        &self,
        id: u64,
        review: &crate::model::AiReview,
        for_hash: Option<&str>,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// Delivery of AI review requests to the reviewer function.
pub trait ReviewQueue: Send + Sync + 'static {
    fn send_review(
        &self,
        story_id: u64,
        content_hash: &str,
    ) -> impl Future<Output = Result<()>> + Send;
}

pub trait AcceptanceTestRepository: Send + Sync + 'static {
    /// Stores a new test if its story exists (and is not being deleted); `StoryNotFound`
    /// otherwise.
    /// The history records `author` adding it, in the same write.
    fn create(
        &self,
        test: &AcceptanceTest,
        author: &crate::history::Author,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The next `AT-n` of the project the story belongs to, from the project's counter (a
    /// number lost to a failed create is a gap, nothing more).
    fn allocate_test_key(&self, story_id: u64) -> impl Future<Output = Result<String>> + Send;

    fn get(
        &self,
        story_id: u64,
        id: &str,
    ) -> impl Future<Output = Result<Option<AcceptanceTest>>> + Send;

    /// Every test of a story, in one Query.
    fn list(&self, story_id: u64) -> impl Future<Output = Result<Vec<AcceptanceTest>>> + Send;

    fn update(
        &self,
        story_id: u64,
        id: &str,
        changes: &TestChanges,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<TestUpdateOutcome>> + Send;

    /// Deletes one test, recorded as `author`'s; false when it did not exist.
    fn delete(
        &self,
        story_id: u64,
        id: &str,
        author: &crate::history::Author,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Deletes every test of a story (part of deleting the story).
    fn delete_all(&self, story_id: u64) -> impl Future<Output = Result<()>> + Send;

    /// Flags every test of a story for review after the story's content changed.
    fn mark_needs_review(
        &self,
        story_id: u64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestUpdateOutcome {
    Updated(Box<AcceptanceTest>),
    /// The expected version did not match; carries the current one.
    VersionMismatch(u64),
    NotFound,
}

/// Code tasks shown with a story.
pub const RECENT_TASKS: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub enum CreateTaskOutcome {
    Created,
    /// A task with this id exists already (the same Idempotency-Key, or a race on it).
    TaskExists,
    /// The story changed (another active task, a status that cannot be built, a delete)
    /// between reading it and writing the task.
    StoryChanged,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// The task had not started: it is cancelled and the story released.
    Cancelled(Box<CodeTask>),
    /// The task is running: the worker stops the agent at its next heartbeat.
    Requested(Box<CodeTask>),
    AlreadyFinished(Box<CodeTask>),
    NotFound,
}

/// A task to follow an earlier one on the same branch and pull request: a revision asked for by
/// a review or a person, or a retry.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    /// The story as read, with the active task (if any) it names.
    pub story: Story,
    pub active: Option<CodeTask>,
    /// The task to record when the story has no active task.
    pub next: CodeTask,
    /// Keys that make the trigger happen once (`delivery:<guid>`, `review:<id>`); a key seen
    /// before makes the whole request a duplicate.
    pub once_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FollowUpOutcome {
    /// Recorded, made the story's active task; it still has to be sent to the queue.
    Created(Box<CodeTask>),
    /// A task is active on the story: the triggers wait on it and become the next revision.
    Coalesced { task_id: String },
    /// A once-key was seen before: this trigger was acted on already.
    Duplicate,
    /// The story or its active task changed since it was read: read again and retry.
    StoryChanged,
}

/// A pull request (or, for the local code host, its stand-in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
}

pub trait CodeTaskRepository: Send + Sync + 'static {
    /// Records a task and, in the same transaction, makes it the story's active task and moves
    /// the story to In Progress — only if the story is Ready or In Progress, has no active task
    /// and is not being deleted. The history records `author` starting it, in the same write.
    fn create_for_story(
        &self,
        task: &CodeTask,
        story: &Story,
        author: &crate::history::Author,
    ) -> impl Future<Output = Result<CreateTaskOutcome>> + Send;

    fn get(&self, task_id: &str) -> impl Future<Output = Result<Option<CodeTask>>> + Send;

    /// The story's newest tasks first, at most [`RECENT_TASKS`].
    fn recent_for_story(&self, story_id: u64)
    -> impl Future<Output = Result<Vec<CodeTask>>> + Send;

    /// Records how far the hand-off got (and the pull request once there is one).
    fn record_hand_off(
        &self,
        task_id: &str,
        stage: HandOffStage,
        pull_request: Option<&PullRequest>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;

    fn request_cancel(
        &self,
        task_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<CancelOutcome>> + Send;

    /// Ends a failed hand-off attempt's claim, so the next request resumes it at once.
    fn release_hand_off(&self, task_id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Records a revision or retry, or adds its triggers to the active task, in one
    /// transaction with its once-keys.
    fn start_follow_up(
        &self,
        follow_up: &FollowUp,
    ) -> impl Future<Output = Result<FollowUpOutcome>> + Send;

    /// Drops the triggers waiting on a task (its pull request closed): nothing follows it.
    fn drop_pending_triggers(&self, task_id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Delivery of task ids to the worker.
pub trait TaskQueue: Send + Sync + 'static {
    fn send(&self, task_id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Where the code lives: GitHub, or a bare repository on disk for local runs. Every call is
/// idempotent, so a retried hand-off converges on one branch, one brief and one pull request.
pub trait CodeHost: Send + Sync + 'static {
    /// The same host acting on `repository` (a project's link, which a code task records), or
    /// on the deployment's configured repository when `None`. Cheap: clients and credentials
    /// are shared.
    fn scoped(&self, repository: Option<&crate::project::RepositoryLink>) -> Self
    where
        Self: Sized;

    /// Creates `branch` from the default branch unless it exists.
    fn ensure_branch(&self, branch: &str) -> impl Future<Output = Result<()>> + Send;

    /// Commits `content` at `path` on `branch` unless the file already holds it.
    fn ensure_file(
        &self,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Opens a draft pull request from `branch` unless one is open already.
    fn ensure_draft_pull_request(
        &self,
        branch: &str,
        title: &str,
        body: &str,
    ) -> impl Future<Output = Result<PullRequest>> + Send;

    fn comment(&self, number: u64, body: &str) -> impl Future<Output = Result<()>> + Send;

    fn mark_ready_for_review(&self, number: u64) -> impl Future<Output = Result<()>> + Send;

    /// Whether the pull request is open, merged or closed, and its head branch.
    fn pull_request_state(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<PullRequestState>> + Send;

    /// The inline comments of one review, oldest first, at most [`MAX_REVIEW_COMMENTS`].
    fn review_comments(
        &self,
        number: u64,
        review_id: u64,
    ) -> impl Future<Output = Result<Vec<ReviewComment>>> + Send {
        let _ = (number, review_id);
        async { Ok(Vec::new()) }
    }

    /// Replies on the thread a review comment belongs to.
    fn reply_to_review_comment(
        &self,
        number: u64,
        comment_id: u64,
        body: &str,
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = (number, comment_id, body);
        async { Ok(()) }
    }

    /// Asks these people to review the pull request again.
    fn request_review(
        &self,
        number: u64,
        logins: &[String],
    ) -> impl Future<Output = Result<()>> + Send {
        let _ = (number, logins);
        async { Ok(()) }
    }

    /// The credential git needs to clone from and push to this host, if any.
    fn git_token(&self) -> impl Future<Output = Result<Option<String>>> + Send {
        async { Ok(None) }
    }
}

/// Review comments read for one review (three pages of GitHub's largest); the brief quotes the
/// first of them and names the rest.
pub const MAX_REVIEW_COMMENTS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestStatus {
    Open,
    Merged,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestState {
    pub status: PullRequestStatus,
    pub head_ref: String,
}

/// One inline review comment, as the revision brief needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewComment {
    pub id: u64,
    pub in_reply_to_id: Option<u64>,
    pub author: String,
    pub path: String,
    pub line: Option<u64>,
    pub original_line: Option<u64>,
    pub side: Option<String>,
    pub diff_hunk: String,
    pub original_commit_id: Option<String>,
    pub body: String,
    pub updated_at: DateTime<Utc>,
}

/// What the webhook asks GitHub before acting on someone's review.
pub trait ReviewerDirectory: Send + Sync + 'static {
    /// `admin`, `write`, `read` or `none`, as GitHub's permission API answers.
    fn permission(&self, login: &str) -> impl Future<Output = Result<String>> + Send;

    /// The account AIPM acts as, whose own comments never trigger anything.
    fn own_login(&self) -> impl Future<Output = Result<String>> + Send;
}

/// One request for a JSON answer from a language model: a fixed system prompt, the user's
/// content (already tagged as data), and the schema of the only answer accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonTask {
    /// The feature asking (`story-draft`), for metrics.
    pub operation: &'static str,
    pub system: &'static str,
    pub user: String,
    /// The tool (or JSON schema name) the answer must come through.
    pub tool_name: &'static str,
    pub tool_description: &'static str,
    pub schema: serde_json::Value,
    pub max_tokens: u32,
    pub temperature: f32,
    /// The whole call, retries included, ends by then.
    pub budget: std::time::Duration,
}

/// A model's answer, before it is checked against the feature's bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAnswer {
    pub value: serde_json::Value,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Why there is no answer: every one leads to the feature's template, never to an error page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AiFailure {
    /// No provider is configured for this stage.
    Disabled,
    Timeout,
    Throttled,
    /// The provider failed or could not be reached (its own words, for the log).
    Unavailable(String),
    /// The credentials or the model access were refused.
    AccessDenied,
    /// The model (or a filter) declined to answer.
    Refused,
    /// The answer was cut off at the token limit.
    Truncated,
    /// The answer did not come through the tool or as JSON.
    NoStructuredOutput,
}

impl AiFailure {
    /// The stable reason shown as `fallbackReason` and used as a metric dimension.
    pub fn reason(&self) -> &'static str {
        match self {
            AiFailure::Disabled => "disabled",
            AiFailure::Timeout => "timeout",
            AiFailure::Throttled => "throttled",
            AiFailure::Unavailable(_) => "unavailable",
            AiFailure::AccessDenied => "access_denied",
            AiFailure::Refused => "refused",
            AiFailure::Truncated => "truncated",
            AiFailure::NoStructuredOutput => "no_structured_output",
        }
    }
}

/// A language model that answers in JSON: Bedrock, an OpenAI-compatible server, or none.
pub trait LanguageModel: Send + Sync + 'static {
    /// The configured model (`off` when none), part of every cache key.
    fn model_id(&self) -> &str;

    fn complete_json(
        &self,
        task: &JsonTask,
    ) -> impl Future<Output = std::result::Result<JsonAnswer, AiFailure>> + Send;
}

/// Whether a caller may use an AI feature once more this hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    Granted,
    Exhausted { retry_after_seconds: u64 },
}

/// AI answers kept by content hash, and the hourly allowance per caller and feature.
pub trait AssistLedger: Send + Sync + 'static {
    fn cached(&self, key: &str) -> impl Future<Output = Result<Option<serde_json::Value>>> + Send;

    fn remember(
        &self,
        key: &str,
        value: &serde_json::Value,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Counts one use of `operation` by `caller` in the hour of `now`, if `limit` allows it.
    fn take_allowance(
        &self,
        caller: &str,
        operation: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Allowance>> + Send;
}

/// Where AIPM announces what happened (EventBridge, source `aipm`), so a team can route it to
/// mail or chat. Publishing is best effort: a lost event never fails the work it reports.
pub trait EventPublisher: Send + Sync + 'static {
    /// `detail_type` such as `aipm.story.done`; `detail` a JSON object.
    fn publish(
        &self,
        detail_type: &'static str,
        detail: serde_json::Value,
    ) -> impl Future<Output = ()> + Send;
}

/// A secret read from Secrets Manager (or the environment locally), cached and re-read.
pub trait SecretSource: Send + Sync + 'static {
    /// The secret; `refresh` reads it again instead of using the cached copy.
    fn secret(&self, refresh: bool) -> impl Future<Output = Result<String>> + Send;
}

/// Whether one dependency answered, and how fast.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyCheck {
    pub name: &'static str,
    pub healthy: bool,
    pub latency_ms: f64,
}

pub trait HealthProbe: Send + Sync + 'static {
    /// Checks every dependency, concurrently, each within its own time limit.
    fn check_all(&self) -> impl Future<Output = Vec<DependencyCheck>> + Send;
}

/// A change of one person's membership: their new role, or their removal (`role: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChange {
    pub project_id: String,
    pub member_sub: String,
    /// The membership as read before the change; the write is conditioned on it still holding.
    pub current: Option<crate::project::Membership>,
    /// The membership after the change; `None` removes it.
    pub next: Option<crate::project::Membership>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChangeOutcome {
    Done,
    /// The change would leave the project without an admin.
    LastAdmin,
    /// The membership or the project changed since it was read: read again.
    Conflict,
    ProjectMissing,
}

/// What a change of a project's settings came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectUpdateOutcome {
    Updated,
    /// The new key is reserved (by this project before, or by another).
    KeyTaken,
    /// The project changed since it was read: read again.
    Conflict,
}

/// What accepting an invitation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    Accepted,
    /// No longer pending, expired, or re-sent with another secret meanwhile.
    InvitationGone,
    /// The membership changed since it was read: read again.
    Conflict,
    ProjectMissing,
}

/// Where the GitHub App reaches a repository: its installation and GitHub's id of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstallationRepository {
    pub installation_id: u64,
    pub repository_id: u64,
}

/// A repository the deployment's GitHub App can work in, offered when a project links one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReachableRepository {
    pub owner: String,
    pub name: String,
    pub repository_id: u64,
    pub installation_id: u64,
    pub default_branch: String,
    pub private: bool,
}

/// Repositories found, and whether more were left out past the limit.
pub type ReachableRepositories = (Vec<ReachableRepository>, bool);

/// Whether the deployment's GitHub App reaches a repository, asked when a project links one.
pub trait RepositoryReach: Send + Sync + 'static {
    /// Its installation and id, or None when the App is not installed on it.
    fn reach(
        &self,
        owner: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<InstallationRepository>>> + Send;

    /// Every repository the App's installations reach, at most `limit`; None without the App
    /// (nothing to ask: people type the repository's name).
    fn reachable(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Option<ReachableRepositories>>> + Send;
}

/// A deployment without the GitHub App (a personal token, or the local git host): links are
/// stored as given, nothing is asked.
#[derive(Debug, Clone, Copy, Default)]
pub struct WithoutApp;

impl RepositoryReach for WithoutApp {
    async fn reach(&self, _owner: &str, _name: &str) -> Result<Option<InstallationRepository>> {
        Ok(None)
    }

    async fn reachable(&self, _limit: usize) -> Result<Option<ReachableRepositories>> {
        Ok(None)
    }
}

/// Projects, their key reservations, memberships and audit log (the projects table).
pub trait ProjectDirectory: Send + Sync + 'static {
    /// The project a key names, now or before a rename (keys are reserved forever).
    fn project_id_for_key(&self, key: &str) -> impl Future<Output = Result<Option<String>>> + Send;

    /// The project and the person's membership in it, read together and strongly consistent:
    /// the one read every authorized request makes.
    fn access(
        &self,
        project_id: &str,
        member_sub: &str,
    ) -> impl Future<
        Output = Result<(
            Option<crate::project::Project>,
            Option<crate::project::Membership>,
        )>,
    > + Send;

    fn record_audit(
        &self,
        entry: &crate::project::AuditEntry,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A fresh project ordinal (1, 2, …; the default project holds 0), the project's place in
    /// the story id space. Never handed out twice.
    fn allocate_ordinal(&self) -> impl Future<Output = Result<u32>> + Send;

    /// Reserves the key and stores the project with its first admin, all or nothing; false
    /// when the key is taken.
    fn create_project(
        &self,
        project: &crate::project::Project,
        admin: &crate::project::Membership,
        audit: &crate::project::AuditEntry,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Replaces the project's record if it still has `expected_version`, reserving `new_key`
    /// (forever, as every key) when the key changes; with the audit entry, all or nothing. The
    /// old key stays reserved and keeps resolving to the project.
    fn update_project(
        &self,
        project: &crate::project::Project,
        expected_version: u64,
        new_key: Option<&str>,
        audit: &crate::project::AuditEntry,
    ) -> impl Future<Output = Result<ProjectUpdateOutcome>> + Send;

    /// Stores a new invitation, or a re-sent one (new secret and date) only while it is still
    /// pending; with its audit entry, all or nothing. False when a re-sent one was not pending.
    fn put_invitation(
        &self,
        invitation: &crate::project::Invitation,
        audit: &crate::project::AuditEntry,
        resend: bool,
    ) -> impl Future<Output = Result<bool>> + Send;

    fn invitation(
        &self,
        project_id: &str,
        invitation_id: &str,
    ) -> impl Future<Output = Result<Option<crate::project::Invitation>>> + Send;

    /// Every invitation of a project, newest first.
    fn invitations(
        &self,
        project_id: &str,
    ) -> impl Future<Output = Result<Vec<crate::project::Invitation>>> + Send;

    /// Revokes a pending invitation with its audit entry; false when it was not pending.
    fn revoke_invitation(
        &self,
        project_id: &str,
        invitation_id: &str,
        audit: &crate::project::AuditEntry,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Marks the invitation accepted by `accepted.accepted_by` — only while it is pending,
    /// unexpired at `accepted.accepted_at` and still has `accepted.secret_hash` — and applies
    /// the membership change (none when the person already holds that role or more), with the
    /// audit entry: all or nothing.
    fn accept_invitation(
        &self,
        accepted: &crate::project::Invitation,
        change: Option<&MemberChange>,
        audit: &crate::project::AuditEntry,
        entry: Option<&crate::history::HistoryEntry>,
    ) -> impl Future<Output = Result<AcceptOutcome>> + Send;

    /// Every membership of one person (the "my projects" list).
    fn memberships_of(
        &self,
        member_sub: &str,
    ) -> impl Future<Output = Result<Vec<crate::project::Membership>>> + Send;

    fn projects(
        &self,
        project_ids: &[String],
    ) -> impl Future<Output = Result<Vec<crate::project::Project>>> + Send;

    /// Every project whose repository belongs to the GitHub account `owner` (any case): the
    /// projects an App installation on that account reaches.
    fn projects_linking_owner(
        &self,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<crate::project::Project>>> + Send;

    /// Every member of a project.
    fn members(
        &self,
        project_id: &str,
    ) -> impl Future<Output = Result<Vec<crate::project::Membership>>> + Send;

    /// Applies a membership change with its audit entry in one transaction, keeping at least
    /// one admin.
    fn change_member(
        &self,
        change: &MemberChange,
        audit: &crate::project::AuditEntry,
        entry: &crate::history::HistoryEntry,
    ) -> impl Future<Output = Result<MemberChangeOutcome>> + Send;
}

/// An acceptance test that has a key, as an upload of CI results needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedTest {
    /// `n` of `AT-n`.
    pub number: u32,
    pub story_id: u64,
    pub test_id: String,
    /// [`crate::traceability::status::steps_fingerprint`] of the test now.
    pub steps_fingerprint: String,
}

impl KeyedTest {
    /// The test's key facts, when it has a key.
    pub fn of(test: &AcceptanceTest) -> Option<Self> {
        Some(KeyedTest {
            number: test
                .key
                .as_deref()
                .and_then(crate::traceability::parse_test_key)?,
            story_id: test.story_id,
            test_id: test.id.clone(),
            steps_fingerprint: crate::traceability::status::steps_fingerprint(test),
        })
    }
}

/// One CI report as it is recorded: which run, at which commit, and what it held.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedReport {
    pub project_id: String,
    /// `<run id>#<attempt>#<report hash>`: the same report of the same run is recorded once.
    pub run_key: String,
    pub commit: String,
    pub run_url: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub cases: usize,
    /// Test cases that named no acceptance test (at most [`MAX_UNMAPPED_LISTED`]).
    pub unmapped: Vec<String>,
}

/// A CI workflow run that GitHub reported completed on a story's branch: whether CI ran at a
/// commit, even when it uploaded no per-test results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiRun {
    pub story_id: u64,
    pub run_id: u64,
    pub attempt: u32,
    /// The workflow's name (`CI`).
    pub name: String,
    /// GitHub's conclusion: success, failure, cancelled, timed_out, …
    pub conclusion: String,
    /// The head commit the run tested.
    pub commit: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_number: Option<u64>,
    pub completed_at: DateTime<Utc>,
}

/// How many unmapped test cases a report keeps by name.
pub const MAX_UNMAPPED_LISTED: usize = 100;

/// The project's upload token as stored: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadToken {
    /// SHA-256 of the token, hex.
    pub hash: String,
    pub issued_at: DateTime<Utc>,
    pub issued_by: String,
}

/// CI evidence of a project's acceptance tests: its upload token, its keyed tests, and the
/// results reports brought.
pub trait TestEvidence: Send + Sync + 'static {
    /// The project's upload token, when it has one.
    fn upload_token(
        &self,
        project_id: &str,
    ) -> impl Future<Output = Result<Option<UploadToken>>> + Send;

    /// Stores the project's upload token (replacing any earlier one), or with `None` revokes
    /// it; false when there was none to revoke.
    fn set_upload_token(
        &self,
        project_id: &str,
        token: Option<&UploadToken>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Every keyed acceptance test of the project with this ordinal, whole.
    fn project_tests(
        &self,
        ordinal: u32,
    ) -> impl Future<Output = Result<Vec<AcceptanceTest>>> + Send;

    /// Every keyed acceptance test of the project with this ordinal.
    fn keyed_tests(&self, ordinal: u32) -> impl Future<Output = Result<Vec<KeyedTest>>> + Send {
        async move {
            Ok(self
                .project_tests(ordinal)
                .await?
                .iter()
                .filter_map(KeyedTest::of)
                .collect())
        }
    }

    /// Stores the report and a result per key, unless a report with its run key was stored
    /// before; false then (nothing is written twice).
    fn record(
        &self,
        report: &RecordedReport,
        results: &[(u32, crate::traceability::status::TestResult)],
    ) -> impl Future<Output = Result<bool>> + Send;

    /// The latest result of each key of the project that has one.
    fn latest_results(
        &self,
        project_id: &str,
    ) -> impl Future<Output = Result<HashMap<u32, crate::traceability::status::TestResult>>> + Send;

    /// A key's results, newest first, at most `limit`.
    fn history(
        &self,
        project_id: &str,
        number: u32,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<crate::traceability::status::TestResult>>> + Send;

    /// Which of `commits` (full SHAs) some report of the project was for.
    fn reported_commits(
        &self,
        project_id: &str,
        commits: &[String],
    ) -> impl Future<Output = Result<HashSet<String>>> + Send;

    /// The project's `limit` most recent reports, newest first.
    fn recent_reports(
        &self,
        project_id: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedReport>>> + Send;

    /// Keeps `run` as its story's latest CI run; a run that completed before the one kept
    /// (a late delivery) changes nothing.
    fn record_ci_run(
        &self,
        project_id: &str,
        run: &CiRun,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Each story's latest CI run, by story id.
    fn ci_runs(&self, project_id: &str)
    -> impl Future<Output = Result<HashMap<u64, CiRun>>> + Send;
}

/// A project's links between stories (`rules::dependencies`), kept as one graph under a version.
pub trait LinkStore: Send + Sync + 'static {
    /// The project's graph; version 0 and no links when it never had one.
    fn graph(&self, project_id: &str) -> impl Future<Output = Result<LinkGraph>> + Send;

    /// One transaction: stores `write.links` as the project's graph if it is still at
    /// `write.graph_version`, bumps the story's version if it is still `write.story_version`
    /// (recording who and when), and holds only while every linked story exists and is not being
    /// deleted. `Ok(false)` when any of that did not hold.
    fn write(
        &self,
        project_id: &str,
        write: &LinkWrite<'_>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Drops every link that touches one of `ids` (stories that are gone), whatever the graph's
    /// version by then.
    fn forget(&self, project_id: &str, ids: &[u64]) -> impl Future<Output = Result<()>> + Send;
}

/// What [`LinkStore::write`] writes and under which conditions.
#[derive(Debug, Clone)]
pub struct LinkWrite<'a> {
    pub story_id: u64,
    pub story_version: u64,
    pub updated_by: &'a str,
    /// The history entry written with the change.
    pub entry: Option<&'a crate::history::HistoryEntry>,
    pub now: DateTime<Utc>,
    pub linked: &'a [u64],
    pub graph_version: u64,
    pub links: &'a [Link],
}

/// For operations that do not read links: an empty graph that takes no writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLinks;

impl LinkStore for NoLinks {
    async fn graph(&self, _project_id: &str) -> Result<LinkGraph> {
        Ok(LinkGraph::default())
    }

    async fn write(&self, _project_id: &str, _write: &LinkWrite<'_>) -> Result<bool> {
        Err(Error::Internal("this operation keeps no links".into()))
    }

    async fn forget(&self, _project_id: &str, _ids: &[u64]) -> Result<()> {
        Ok(())
    }
}

/// A request the browser sends itself, signed for a short while: the upload of a file's bytes
/// to the documents bucket, or their download.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedRequest {
    pub method: String,
    pub url: String,
    /// Headers the request must carry exactly as given (they are part of the signature).
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// What the checks read of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    pub content_type: String,
    /// Its first bytes, at most `rules::documents::SNIFF_BYTES`.
    pub head: Vec<u8>,
}

/// The bucket of reference documents' bytes. The browser moves the bytes through signed
/// requests; the functions only sign, inspect and delete.
pub trait DocumentStore: Send + Sync + 'static {
    /// A PUT of exactly `size` bytes of `content_type` to `key`.
    fn upload_request(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> impl Future<Output = Result<SignedRequest>> + Send;

    /// A GET that downloads `key` as an attachment named `file_name`.
    fn download_request(
        &self,
        key: &str,
        file_name: &str,
        content_type: &str,
    ) -> impl Future<Output = Result<SignedRequest>> + Send;

    /// The object's size, content type and first bytes; `None` when there is no such object.
    fn inspect(&self, key: &str) -> impl Future<Output = Result<Option<StoredObject>>> + Send;

    /// Deletes objects; a missing one is not an error.
    fn delete(&self, keys: &[String]) -> impl Future<Output = Result<()>> + Send;

    /// Deletes every object under `prefix` (a deleted story's folder, uploads never confirmed
    /// included).
    fn delete_under(&self, prefix: &str) -> impl Future<Output = Result<()>> + Send;
}

/// For operations that keep no files: nothing to sign, nothing stored, nothing to delete.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDocuments;

impl DocumentStore for NoDocuments {
    async fn upload_request(&self, _: &str, _: &str, _: u64) -> Result<SignedRequest> {
        Err(Error::Internal("this operation keeps no documents".into()))
    }

    async fn download_request(&self, _: &str, _: &str, _: &str) -> Result<SignedRequest> {
        Err(Error::Internal("this operation keeps no documents".into()))
    }

    async fn inspect(&self, _: &str) -> Result<Option<StoredObject>> {
        Ok(None)
    }

    async fn delete(&self, _: &[String]) -> Result<()> {
        Ok(())
    }

    async fn delete_under(&self, _: &str) -> Result<()> {
        Ok(())
    }
}

/// One page of history, newest first; `next` continues after its last entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryPage {
    pub entries: Vec<crate::history::HistoryEntry>,
    pub next: Option<crate::history::HistoryCursor>,
}

/// Reading the change history, which every write records beside its change.
pub trait HistoryLog: Send + Sync + 'static {
    /// A story's entries, newest first.
    fn story_history(
        &self,
        story_id: u64,
        limit: usize,
        after: Option<&crate::history::HistoryCursor>,
    ) -> impl Future<Output = Result<HistoryPage>> + Send;

    /// A project's entries (every story's and its memberships'), newest first.
    fn project_feed(
        &self,
        project: u32,
        limit: usize,
        after: Option<&crate::history::HistoryCursor>,
    ) -> impl Future<Output = Result<HistoryPage>> + Send;
}

/// A deleted story (with its subtree) as the trash shows it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrashedStory {
    /// The deleted story: the top of what went.
    pub story_id: u64,
    pub title: String,
    /// Where it was: its parent then, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    pub deleted_at: DateTime<Utc>,
    pub deleted_by: crate::history::Author,
    /// Every story that went with it, itself included.
    pub story_ids: Vec<u64>,
    pub test_count: usize,
    /// When it is purged unless restored first.
    pub purge_at: DateTime<Utc>,
}

/// What a restore brought back.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    pub trashed: TrashedStory,
    /// Its parent was gone (or going), so the story came back at the top level.
    pub as_root: bool,
}

/// The trash: deleted subtrees, kept whole for [`TRASH_DAYS`] days and restorable exactly.
pub trait TrashBin: Send + Sync + 'static {
    /// Whether a deleted story's files stay in the bucket (for a restore) until it is purged.
    fn keeps_files(&self) -> bool {
        true
    }

    /// Copies the stories `ids` (the top first), their acceptance tests and `links` (the
    /// project's links touching them) into the trash under `top`, before they are removed. A
    /// repeated call (an interrupted delete done again) adds to the same entry; the history
    /// records the delete once.
    fn keep(
        &self,
        project_id: &str,
        top: u64,
        ids: &[u64],
        links: &[Link],
        author: &crate::history::Author,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The project's trash, most recently deleted first.
    fn trashed(&self, project_id: &str) -> impl Future<Output = Result<Vec<TrashedStory>>> + Send;

    /// What is kept under `top`, if anything (one read, not the whole list).
    fn trashed_one(
        &self,
        project_id: &str,
        top: u64,
    ) -> impl Future<Output = Result<Option<TrashedStory>>> + Send;

    /// Puts everything kept under `top` back as it was (ids, versions, tests, links); under its
    /// old parent if that still exists, else at the top level. `None` when nothing is kept
    /// under `top`.
    fn restore(
        &self,
        project_id: &str,
        top: u64,
        author: &crate::history::Author,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Restored>>> + Send;

    /// Forgets what is kept under `top` for good; `None` when nothing was.
    fn purge(
        &self,
        project_id: &str,
        top: u64,
    ) -> impl Future<Output = Result<Option<TrashedStory>>> + Send;
}

/// No trash: a delete is final (unit tests of other concerns, and the files go at once).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTrash;

impl TrashBin for NoTrash {
    fn keeps_files(&self) -> bool {
        false
    }

    async fn keep(
        &self,
        _: &str,
        _: u64,
        _: &[u64],
        _: &[Link],
        _: &crate::history::Author,
        _: DateTime<Utc>,
    ) -> Result<()> {
        Ok(())
    }

    async fn trashed(&self, _: &str) -> Result<Vec<TrashedStory>> {
        Ok(Vec::new())
    }

    async fn trashed_one(&self, _: &str, _: u64) -> Result<Option<TrashedStory>> {
        Ok(None)
    }

    async fn restore(
        &self,
        _: &str,
        _: u64,
        _: &crate::history::Author,
        _: DateTime<Utc>,
    ) -> Result<Option<Restored>> {
        Ok(None)
    }

    async fn purge(&self, _: &str, _: u64) -> Result<Option<TrashedStory>> {
        Ok(None)
    }
}

/// Days a deleted story stays restorable.
pub const TRASH_DAYS: i64 = 30;

/// The live channel's records: tickets waiting for their socket, and the open sockets of each
/// project (DynamoDB in a stage, memory in unit tests).
pub trait LiveRegistry: Send + Sync + 'static {
    fn put_ticket(
        &self,
        ticket: &crate::live::LiveTicket,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Uses up the ticket whose hash is `digest` (once, and only before it expires) and records
    /// the connection it opens; `None` when there is no such live ticket.
    fn redeem(
        &self,
        digest: &str,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<crate::live::LiveConnection>>> + Send;

    /// Forgets a connection (closed, or found gone); nothing when it was not recorded.
    fn forget(&self, connection_id: &str) -> impl Future<Output = Result<()>> + Send;

    /// The project's open connections.
    fn listening(
        &self,
        project_ordinal: u32,
    ) -> impl Future<Output = Result<Vec<crate::live::LiveConnection>>> + Send;
}

/// How a notice reached a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The socket is closed (API Gateway's 410): forget it.
    Gone,
}

/// Sends to open sockets (API Gateway's management API in a stage).
pub trait LivePush: Send + Sync + 'static {
    fn send(
        &self,
        connection_id: &str,
        frame: &[u8],
    ) -> impl Future<Output = Result<Delivery>> + Send;

    /// Closes a socket (its person lost access).
    fn close(&self, connection_id: &str) -> impl Future<Output = Result<()>> + Send;
}
