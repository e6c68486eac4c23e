//! Change sets: what a PATCH (or the webhook's merge) changes on a story or an acceptance test,
//! and how a record looks with it applied. Plain data over the model, so validation builds them
//! and repositories write them without either depending on the other.

use chrono::{DateTime, Utc};

use crate::history::ChangeNote;
use crate::model::{AcceptanceTest, MergeRecord, Story, StoryDocuments, StoryStatus, TestStatus};

/// The fields a PATCH changes; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoryChanges {
    pub title: Option<String>,
    pub as_a: Option<String>,
    pub i_want: Option<String>,
    pub so_that: Option<String>,
    pub description: Option<String>,
    pub components: Option<Vec<String>>,
    pub story_point: Option<Option<u32>>,
    pub assignee_email: Option<Option<String>>,
    pub parent_id: Option<Option<u64>>,
    pub status: Option<StoryStatus>,
    pub accept_warnings: Option<bool>,
    pub blocked_from: Option<Option<StoryStatus>>,
    /// The merge of the story's pull request, once GitHub reports it.
    pub merge: Option<MergeRecord>,
    /// Its reference documents, replaced whole.
    pub documents: Option<StoryDocuments>,
    /// Who makes the change; recorded as `updatedBy` when known.
    pub updated_by: Option<String>,
    /// Who and why, for the history entry written with the change (never stored on the story).
    pub note: ChangeNote,
}

impl StoryChanges {
    /// Whether anything but the status (and what comes with a status move) changes.
    pub fn edits_content(&self) -> bool {
        let status_move = StoryChanges {
            status: self.status,
            accept_warnings: self.accept_warnings,
            blocked_from: self.blocked_from,
            updated_by: self.updated_by.clone(),
            note: self.note.clone(),
            ..StoryChanges::default()
        };
        *self != status_move
    }

    /// The story as it would be with these changes.
    pub fn apply_to(&self, story: &Story) -> Story {
        let mut next = story.clone();
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(value) = &self.$field {
                    next.$field = value.clone();
                }
            )*};
        }
        take!(
            title,
            as_a,
            i_want,
            so_that,
            description,
            components,
            story_point,
            assignee_email,
            parent_id,
            status,
            accept_warnings,
            blocked_from,
            documents
        );
        if let Some(merge) = &self.merge {
            next.merge = Some(merge.clone());
        }
        if let Some(caller) = &self.updated_by {
            next.updated_by = Some(caller.clone());
        }
        next
    }

    /// Who and why for the history: the note's author, else the `updatedBy` sub alone.
    pub fn history_note(&self) -> ChangeNote {
        ChangeNote {
            author: self.note.author.clone().or_else(|| {
                self.updated_by
                    .as_deref()
                    .map(|sub| crate::history::Author::new(sub, None))
            }),
            reason: self.note.reason.clone(),
        }
    }

    /// Whether the narrative a test was written against changes.
    pub fn changes_content_of(&self, story: &Story) -> bool {
        let differs = |change: &Option<String>, current: &String| {
            change.as_ref().is_some_and(|value| value != current)
        };
        differs(&self.title, &story.title)
            || differs(&self.as_a, &story.as_a)
            || differs(&self.i_want, &story.i_want)
            || differs(&self.so_that, &story.so_that)
            || differs(&self.description, &story.description)
    }
}

/// The fields a PATCH of an acceptance test changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TestChanges {
    pub title: Option<String>,
    pub given: Option<Vec<String>>,
    pub when: Option<Vec<String>>,
    pub then: Option<Vec<String>>,
    pub status: Option<TestStatus>,
    /// Who sets the status, and when (with `status`, from a person's request).
    pub status_set: Option<(String, DateTime<Utc>)>,
    pub needs_review: Option<bool>,
    /// Who makes the change, for the history entry written with it.
    pub note: ChangeNote,
}

impl TestChanges {
    /// Who the history names as making it.
    pub fn history_author(&self) -> crate::history::Author {
        self.note
            .author
            .clone()
            .unwrap_or_else(crate::history::Author::unknown)
    }

    /// Whether it changes what the history shows of a test (not only the review flag).
    pub fn touches_recorded_fields(&self) -> bool {
        self.title.is_some()
            || self.given.is_some()
            || self.when.is_some()
            || self.then.is_some()
            || self.status.is_some()
    }

    /// The test as it would be with these changes.
    pub fn apply_to(&self, test: &AcceptanceTest) -> AcceptanceTest {
        let mut next = test.clone();
        if let Some(title) = &self.title {
            next.title = title.clone();
        }
        if let Some(given) = &self.given {
            next.given = given.clone();
        }
        if let Some(when) = &self.when {
            next.when = when.clone();
        }
        if let Some(then) = &self.then {
            next.then = then.clone();
        }
        if let Some(status) = self.status {
            next.status = status;
        }
        if let Some((by, at)) = &self.status_set {
            next.status_set_by = Some(by.clone());
            next.status_set_at = Some(*at);
        }
        if let Some(needs_review) = self.needs_review {
            next.needs_review = needs_review;
        }
        next
    }
}
