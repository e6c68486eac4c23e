//! The change history: what one recorded change says (who, when, which fields before → after)
//! and how it is derived from a record before and after the change. Entries are written in the
//! same DynamoDB transaction as the change they describe, so no change exists without its entry.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{AcceptanceTest, Story};

/// Who made a change, as the authorizer verified them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Author {
    pub sub: String,
    /// For display: the person's name when the sign-in carries one, else their `sub`.
    pub name: String,
}

impl Author {
    pub fn new(sub: impl Into<String>, name: Option<&str>) -> Self {
        let sub = sub.into();
        let name = name
            .filter(|name| !name.trim().is_empty())
            .map_or_else(|| sub.clone(), str::to_owned);
        Self { sub, name }
    }

    /// The person behind a request.
    pub fn of(caller: &crate::authz::identity::Caller) -> Self {
        Self::new(caller.sub.clone(), caller.name.as_deref())
    }

    /// Whoever made a change no one named (a write outside any request).
    pub fn unknown() -> Self {
        Self::new("unknown", None)
    }

    /// GitHub, reporting a merge through the webhook.
    pub fn github() -> Self {
        Self::new("github", Some("GitHub"))
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HistoryAction {
    StoryCreated,
    StoryEdited,
    StatusChanged,
    StoryMoved,
    DocumentsChanged,
    Merged,
    LinksChanged,
    TestAdded,
    TestEdited,
    TestDeleted,
    StoryDeleted,
    StoryRestored,
    CodeTaskStarted,
    MemberChanged,
    MemberRemoved,
}

/// One field's value before and after; `null` where it had none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// 16 hex digits; with `at` it orders and names the entry.
    pub id: String,
    /// The project's ordinal: the project feed is read by it.
    pub project: u32,
    /// The story the change is about (none for a membership change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_id: Option<u64>,
    pub at: DateTime<Utc>,
    pub author: Author,
    pub action: HistoryAction,
    /// The version the change produced (of the story, or of the acceptance test it concerns):
    /// it orders one record's entries exactly, where two writes may share a millisecond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// What inside the story it concerns: an acceptance test's id, a member's `sub`, a task id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Why, when the person said so (a status move's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

/// Where a page of history ended: the last entry's partition and sort key, opaque to clients
/// (base64url of JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCursor {
    pub pk: String,
    pub sk: String,
}

impl HistoryCursor {
    pub fn encode(&self) -> String {
        use base64::Engine;
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// `None` for anything this API did not issue.
    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let cursor: Self = serde_json::from_slice(&bytes).ok()?;
        cursor.pk.starts_with(PARTITION_PREFIX).then_some(cursor)
    }
}

/// Every history item's partition key starts so, in the projects table.
pub const PARTITION_PREFIX: &str = "history#";

impl HistoryEntry {
    /// The partition the entry lives in: its story's, or its project's for a membership change.
    pub fn partition(&self) -> String {
        match self.story_id {
            Some(story) => story_partition(story),
            None => format!("{PARTITION_PREFIX}project#{}", self.project),
        }
    }

    /// Sorts by time, then by the version produced (two changes of one story in the same
    /// millisecond), then by id: RFC 3339 with fixed milliseconds and zero-padded numbers sort
    /// as text.
    pub fn sort_key(&self) -> String {
        format!(
            "{}#{:012}#{}",
            self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            self.version.unwrap_or_default(),
            self.id
        )
    }

    pub fn cursor(&self) -> HistoryCursor {
        HistoryCursor {
            pk: self.partition(),
            sk: self.sort_key(),
        }
    }
}

pub fn story_partition(story_id: u64) -> String {
    format!("{PARTITION_PREFIX}{story_id}")
}

/// A person's change as the handler knows it before the write: who, and why.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeNote {
    pub author: Option<Author>,
    pub reason: Option<String>,
}

/// Story fields the history shows; the rest (version, timestamps, counters, the AI review)
/// follow from these or are not a person's change.
const STORY_FIELDS: &[&str] = &[
    "title",
    "asA",
    "iWant",
    "soThat",
    "description",
    "components",
    "storyPoint",
    "assigneeEmail",
    "parentId",
    "status",
    "acceptWarnings",
    "documents",
    "merge",
];

const TEST_FIELDS: &[&str] = &["title", "given", "when", "then", "status"];

impl HistoryEntry {
    /// An entry with a fresh id and no field changes.
    pub fn new(
        project: u32,
        story_id: Option<u64>,
        at: DateTime<Utc>,
        author: Author,
        action: HistoryAction,
    ) -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(),
            project,
            story_id,
            at,
            author,
            action,
            version: None,
            subject: None,
            reason: None,
            changes: Vec::new(),
        }
    }

    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn because(mut self, reason: Option<String>) -> Self {
        self.reason = reason;
        self
    }

    pub fn at_version(mut self, version: u64) -> Self {
        self.version = Some(version);
        self
    }

    pub fn with_changes(mut self, changes: Vec<FieldChange>) -> Self {
        self.changes = changes;
        self
    }

    /// The entry for a story written for the first time: every field it was given.
    pub fn story_created(story: &Story, author: Author, at: DateTime<Utc>) -> Self {
        let changes = field_changes(&Value::Null, &to_json(story), STORY_FIELDS);
        Self::new(
            project_of(story.id),
            Some(story.id),
            at,
            author,
            HistoryAction::StoryCreated,
        )
        .with_changes(changes)
    }

    /// The entry for a change from `before` to `after`, named by its most telling part; `None`
    /// when no field the history shows changed.
    pub fn story_changed(
        before: &Story,
        after: &Story,
        note: &ChangeNote,
        at: DateTime<Utc>,
    ) -> Option<Self> {
        let changes = field_changes(&to_json(before), &to_json(after), STORY_FIELDS);
        if changes.is_empty() {
            return None;
        }
        let touched = |field: &str| changes.iter().any(|change| change.field == field);
        let action = if touched("merge") {
            HistoryAction::Merged
        } else if touched("status") {
            HistoryAction::StatusChanged
        } else if touched("parentId") {
            HistoryAction::StoryMoved
        } else if changes.iter().all(|change| change.field == "documents") {
            HistoryAction::DocumentsChanged
        } else {
            HistoryAction::StoryEdited
        };
        let author = note.author.clone().unwrap_or_else(Author::unknown);
        Some(
            Self::new(project_of(before.id), Some(before.id), at, author, action)
                .at_version(after.version)
                .because(note.reason.clone())
                .with_changes(changes),
        )
    }

    /// The entry for an acceptance test added, changed (`before` and `after`) or deleted.
    pub fn test_changed(
        before: Option<&AcceptanceTest>,
        after: Option<&AcceptanceTest>,
        author: Author,
        at: DateTime<Utc>,
    ) -> Option<Self> {
        let test = after.or(before)?;
        let action = match (before, after) {
            (None, Some(_)) => HistoryAction::TestAdded,
            (Some(_), None) => HistoryAction::TestDeleted,
            _ => HistoryAction::TestEdited,
        };
        let json = |test: Option<&AcceptanceTest>| test.map_or(Value::Null, to_json);
        let changes = field_changes(&json(before), &json(after), TEST_FIELDS);
        if changes.is_empty() && action == HistoryAction::TestEdited {
            return None;
        }
        let subject = test.key.clone().unwrap_or_else(|| test.id.clone());
        Some(
            Self::new(
                project_of(test.story_id),
                Some(test.story_id),
                at,
                author,
                action,
            )
            .about(subject)
            .with_changes(changes),
        )
    }
}

impl HistoryEntry {
    /// The entry for a change of a story's links (`story`'s own, before and after).
    pub fn links_changed(
        story_id: u64,
        before: &[crate::rules::dependencies::Link],
        after: &[crate::rules::dependencies::Link],
        author: Author,
        at: DateTime<Utc>,
    ) -> Option<Self> {
        let of_story = |links: &[crate::rules::dependencies::Link]| {
            let mut own: Vec<Value> = links
                .iter()
                .filter(|link| link.story == story_id)
                .map(to_json)
                .collect();
            own.sort_by_key(Value::to_string);
            serde_json::json!({ "links": own })
        };
        let changes = field_changes(&of_story(before), &of_story(after), &["links"]);
        (!changes.is_empty()).then(|| {
            Self::new(
                project_of(story_id),
                Some(story_id),
                at,
                author,
                HistoryAction::LinksChanged,
            )
            .with_changes(changes)
        })
    }
}

impl HistoryEntry {
    /// The entry of a delete: the story that went and how much went with it.
    pub fn story_deleted(head: &crate::ports::TrashedStory, stories: usize, tests: usize) -> Self {
        let story_id = head.story_id;
        Self::new(
            project_of(story_id),
            Some(story_id),
            head.deleted_at,
            head.deleted_by.clone(),
            HistoryAction::StoryDeleted,
        )
        .about(format!(
            "{} {} and {} acceptance {}",
            stories,
            if stories == 1 { "story" } else { "stories" },
            tests,
            if tests == 1 { "test" } else { "tests" }
        ))
    }

    /// The entry of a restore, saying when the story came back at the top level.
    pub fn story_restored(
        head: &crate::ports::TrashedStory,
        author: Author,
        at: DateTime<Utc>,
        as_root: bool,
    ) -> Self {
        let story_id = head.story_id;
        let entry = Self::new(
            project_of(story_id),
            Some(story_id),
            at,
            author,
            HistoryAction::StoryRestored,
        );
        if as_root {
            entry
                .because(Some(
                    "its parent no longer exists, so it was restored at the top level".into(),
                ))
                .with_changes(vec![FieldChange {
                    field: "parentId".into(),
                    before: head.parent_id.map_or(Value::Null, Value::from),
                    after: Value::Null,
                }])
        } else {
            entry
        }
    }
}

impl HistoryEntry {
    /// The entry of a code task started on `story` (which moves to In Progress with it).
    pub fn code_task_started(story: &Story, task: &crate::model::CodeTask, author: Author) -> Self {
        let mut changes = vec![FieldChange {
            field: "branch".into(),
            before: Value::Null,
            after: task.branch.clone().into(),
        }];
        if story.status != crate::model::StoryStatus::InProgress {
            changes.push(FieldChange {
                field: "status".into(),
                before: to_json(&story.status),
                after: to_json(&crate::model::StoryStatus::InProgress),
            });
        }
        Self::new(
            project_of(story.id),
            Some(story.id),
            task.created_at,
            author,
            HistoryAction::CodeTaskStarted,
        )
        .at_version(story.version + 1)
        .about(task.task_id.clone())
        .because(
            task.blocker_override
                .as_ref()
                .map(|blockers| format!("started despite open blockers: {}", blockers.reason)),
        )
        .with_changes(changes)
    }
}

/// The project ordinal a story id carries in its high half.
pub fn project_of(story_id: u64) -> u32 {
    u32::try_from(story_id >> 32).unwrap_or_default()
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The listed fields whose values differ between two JSON objects (a missing field is null;
/// an empty list or object counts as missing, as the model leaves empty ones out).
pub fn field_changes(before: &Value, after: &Value, fields: &[&str]) -> Vec<FieldChange> {
    let value = |object: &Value, field: &str| match object.get(field) {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Array(items)) if items.is_empty() => Value::Null,
        Some(Value::Object(entries)) if entries.is_empty() => Value::Null,
        Some(Value::Bool(false)) => Value::Null,
        Some(other) => other.clone(),
    };
    fields
        .iter()
        .filter_map(|field| {
            let (old, new) = (value(before, field), value(after, field));
            (old != new).then(|| FieldChange {
                field: (*field).to_owned(),
                before: old,
                after: new,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{StoryStatus, TestStatus};

    fn story() -> Story {
        crate::model::NewStory {
            parent_id: None,
            title: "Export".into(),
            as_a: "PM".into(),
            i_want: "a CSV".into(),
            so_that: "I share".into(),
            description: String::new(),
            components: Vec::new(),
            story_point: None,
            assignee_email: None,
            created_by: None,
        }
        .into_story((3u64 << 32) + 7, Utc::now())
    }

    #[test]
    fn a_narrative_edit_names_only_the_changed_fields_with_both_values() {
        let before = story();
        let mut after = before.clone();
        after.i_want = "a PDF".into();
        after.version += 1;
        after.updated_at = Utc::now();
        let note = ChangeNote {
            author: Some(Author::new("sub-1", Some("Ada"))),
            reason: None,
        };
        let entry = HistoryEntry::story_changed(&before, &after, &note, Utc::now()).unwrap();
        assert_eq!(entry.action, HistoryAction::StoryEdited);
        assert_eq!(entry.project, 3);
        assert_eq!(entry.story_id, Some(before.id));
        assert_eq!(entry.author.name, "Ada");
        assert_eq!(
            entry.changes,
            vec![FieldChange {
                field: "iWant".into(),
                before: "a CSV".into(),
                after: "a PDF".into()
            }]
        );
    }

    #[test]
    fn a_status_move_keeps_its_reason_and_nothing_changed_records_nothing() {
        let before = story();
        let mut after = before.clone();
        after.status = StoryStatus::Ready;
        after.accept_warnings = true;
        let note = ChangeNote {
            author: Some(Author::new("sub-2", None)),
            reason: Some("agreed in planning".into()),
        };
        let entry = HistoryEntry::story_changed(&before, &after, &note, Utc::now()).unwrap();
        assert_eq!(entry.action, HistoryAction::StatusChanged);
        assert_eq!(entry.reason.as_deref(), Some("agreed in planning"));
        assert_eq!(entry.author.name, "sub-2", "no name falls back to the sub");
        let fields: Vec<&str> = entry.changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["status", "acceptWarnings"]);
        assert_eq!(entry.changes[0].before, "Draft");
        let mut touched = before.clone();
        touched.version += 4;
        assert!(HistoryEntry::story_changed(&before, &touched, &note, Utc::now()).is_none());
    }

    #[test]
    fn tests_added_edited_and_deleted_are_named_by_their_key() {
        let test = AcceptanceTest {
            story_id: 9,
            id: "t1".into(),
            key: Some("AT-4".into()),
            title: "Exports".into(),
            given: vec!["a story".into()],
            when: vec!["I export".into()],
            then: vec!["a file".into()],
            status: TestStatus::Draft,
            status_set_by: None,
            status_set_at: None,
            needs_review: false,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let who = Author::new("s", Some("Bo"));
        let added = HistoryEntry::test_changed(None, Some(&test), who.clone(), Utc::now()).unwrap();
        assert_eq!(added.action, HistoryAction::TestAdded);
        assert_eq!(added.subject.as_deref(), Some("AT-4"));
        assert_eq!(added.changes.len(), 5);
        let mut passed = test.clone();
        passed.status = TestStatus::Pass;
        passed.needs_review = true;
        let edited =
            HistoryEntry::test_changed(Some(&test), Some(&passed), who.clone(), Utc::now())
                .unwrap();
        assert_eq!(edited.changes.len(), 1);
        assert_eq!(edited.changes[0].after, "Pass");
        let deleted = HistoryEntry::test_changed(Some(&test), None, who, Utc::now()).unwrap();
        assert_eq!(deleted.action, HistoryAction::TestDeleted);
        assert!(deleted.changes.iter().all(|change| change.after.is_null()));
    }
}
