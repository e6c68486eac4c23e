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
    pub title: String,
    #[serde(default)]
    pub given: Vec<String>,
    #[serde(default)]
    pub when: Vec<String>,
    #[serde(default)]
    pub then: Vec<String>,
    pub status: TestStatus,
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
    pub created_by: Option<String>,
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
            version: 1,
            created_at: now,
            updated_at: now,
            updated_by: self.created_by.clone(),
            created_by: self.created_by,
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
    pub branch: String,
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
