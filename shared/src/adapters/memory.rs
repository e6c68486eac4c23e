//! In-memory adapters for unit tests of handlers: the same contracts as DynamoDB, no I/O. One
//! store holds stories and tests so existence rules (a test needs its story) hold here too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::model::{AcceptanceTest, NewStory, Story, StorySummary};
use crate::pagination::{Cursor, Page, StoryListQuery};
use crate::ports::{
    AcceptanceTestRepository, DependencyCheck, HealthProbe, MAX_CHILDREN, StoryChanges,
    StoryRepository, TestChanges, TestUpdateOutcome, UpdateGuard, UpdateOutcome,
};

#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<MemoryState>>,
}

#[derive(Debug, Default)]
struct MemoryState {
    last_id: u64,
    stories: BTreeMap<u64, Story>,
    deleting: BTreeSet<u64>,
    tests: BTreeMap<(u64, String), AcceptanceTest>,
    unavailable: bool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later call fail as if the tables were unreachable.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock_any().unavailable = unavailable;
    }

    fn lock_any(&self) -> MutexGuard<'_, MemoryState> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn lock(&self) -> Result<MutexGuard<'_, MemoryState>> {
        let state = self.lock_any();
        if state.unavailable {
            return Err(Error::DependencyUnavailable {
                dependency: "stories table",
                message: "the in-memory store is switched off".into(),
            });
        }
        Ok(state)
    }
}

impl MemoryState {
    fn parent_usable(&self, parent: u64) -> bool {
        self.stories.contains_key(&parent) && !self.deleting.contains(&parent)
    }
}

impl StoryRepository for MemoryStore {
    async fn create(&self, story: NewStory, now: DateTime<Utc>) -> Result<Story> {
        let mut state = self.lock()?;
        if let Some(parent) = story.parent_id
            && !state.parent_usable(parent)
        {
            return Err(Error::ParentNotFound { id: parent });
        }
        state.last_id += 1;
        let story = story.into_story(state.last_id, now);
        state.stories.insert(story.id, story.clone());
        Ok(story)
    }

    async fn get(&self, id: u64) -> Result<Option<Story>> {
        Ok(self.lock()?.stories.get(&id).cloned())
    }

    async fn list(&self, query: &StoryListQuery) -> Result<Page<Story>> {
        let state = self.lock()?;
        let start = query.after.map_or(0, |cursor| cursor.id);
        let mut matching = state
            .stories
            .range(start.saturating_add(1)..)
            .map(|(_, story)| story)
            .filter(|story| query.parent_id.is_none() || story.parent_id == query.parent_id)
            .filter(|story| query.status.is_none_or(|status| story.status == status));
        let items: Vec<Story> = matching.by_ref().take(query.limit).cloned().collect();
        let next = match (items.last(), matching.next()) {
            (Some(last), Some(_)) => Some(Cursor {
                id: last.id,
                parent_id: query.parent_id,
            }),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn children(&self, id: u64) -> Result<Vec<StorySummary>> {
        Ok(self
            .lock()?
            .stories
            .values()
            .filter(|story| story.parent_id == Some(id))
            .take(MAX_CHILDREN)
            .map(Story::summary)
            .collect())
    }

    async fn update(
        &self,
        id: u64,
        changes: &StoryChanges,
        guard: &UpdateGuard,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome> {
        let mut state = self.lock()?;
        if let Some(Some(parent)) = changes.parent_id
            && !state.parent_usable(parent)
        {
            return Err(Error::ParentNotFound { id: parent });
        }
        let Some(current) = state.stories.get(&id) else {
            return Ok(UpdateOutcome::NotFound);
        };
        if guard
            .version
            .is_some_and(|version| version != current.version)
            || guard.status.is_some_and(|status| status != current.status)
        {
            return Ok(UpdateOutcome::Conflict);
        }
        let mut next = changes.apply_to(current);
        next.version += 1;
        next.updated_at = now;
        state.stories.insert(id, next.clone());
        Ok(UpdateOutcome::Updated(Box::new(next)))
    }

    async fn mark_deleting(&self, id: u64) -> Result<bool> {
        let mut state = self.lock()?;
        if !state.stories.contains_key(&id) {
            return Ok(false);
        }
        state.deleting.insert(id);
        Ok(true)
    }

    async fn unmark_deleting(&self, id: u64) -> Result<()> {
        self.lock()?.deleting.remove(&id);
        Ok(())
    }

    async fn delete(&self, id: u64) -> Result<()> {
        let mut state = self.lock()?;
        state.stories.remove(&id);
        state.deleting.remove(&id);
        Ok(())
    }
}

impl AcceptanceTestRepository for MemoryStore {
    async fn create(&self, test: &AcceptanceTest) -> Result<()> {
        let mut state = self.lock()?;
        if !state.parent_usable(test.story_id) {
            return Err(Error::StoryNotFound { id: test.story_id });
        }
        state
            .tests
            .insert((test.story_id, test.id.clone()), test.clone());
        Ok(())
    }

    async fn get(&self, story_id: u64, id: &str) -> Result<Option<AcceptanceTest>> {
        Ok(self.lock()?.tests.get(&(story_id, id.to_owned())).cloned())
    }

    async fn list(&self, story_id: u64) -> Result<Vec<AcceptanceTest>> {
        Ok(self
            .lock()?
            .tests
            .values()
            .filter(|test| test.story_id == story_id)
            .cloned()
            .collect())
    }

    async fn update(
        &self,
        story_id: u64,
        id: &str,
        changes: &TestChanges,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<TestUpdateOutcome> {
        let mut state = self.lock()?;
        let Some(test) = state.tests.get_mut(&(story_id, id.to_owned())) else {
            return Ok(TestUpdateOutcome::NotFound);
        };
        if let Some(expected) = expected_version
            && expected != test.version
        {
            return Ok(TestUpdateOutcome::VersionMismatch(test.version));
        }
        *test = changes.apply_to(test);
        test.version += 1;
        test.updated_at = now;
        Ok(TestUpdateOutcome::Updated(test.clone()))
    }

    async fn delete(&self, story_id: u64, id: &str) -> Result<bool> {
        Ok(self
            .lock()?
            .tests
            .remove(&(story_id, id.to_owned()))
            .is_some())
    }

    async fn delete_all(&self, story_id: u64) -> Result<()> {
        self.lock()?
            .tests
            .retain(|(owner, _), _| *owner != story_id);
        Ok(())
    }

    async fn mark_needs_review(&self, story_id: u64, now: DateTime<Utc>) -> Result<()> {
        for test in self.lock()?.tests.values_mut() {
            if test.story_id == story_id {
                test.needs_review = true;
                test.updated_at = now;
            }
        }
        Ok(())
    }
}

/// A health probe whose answers a test chooses.
#[derive(Debug, Clone, Default)]
pub struct StaticHealthProbe {
    pub failing: Vec<&'static str>,
}

impl HealthProbe for StaticHealthProbe {
    async fn check_all(&self) -> Vec<DependencyCheck> {
        [
            "storiesTable",
            "acceptanceTestsTable",
            "codeTasksTable",
            "codeTasksQueue",
        ]
        .into_iter()
        .map(|name| {
            let healthy = !self.failing.contains(&name);
            DependencyCheck {
                name,
                healthy,
                latency_ms: 0.0,
                error: (!healthy).then(|| "switched off by the test".to_owned()),
            }
        })
        .collect()
    }
}
