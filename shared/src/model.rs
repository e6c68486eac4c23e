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
            version: 1,
            created_at: now,
            updated_at: now,
            created_by: None,
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
    fn story_uses_camel_case_attribute_names() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let story = NewStory {
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
