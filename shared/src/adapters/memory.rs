//! In-memory adapters for unit tests of handlers: same contracts, no I/O.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::model::{NewStory, Story};
use crate::pagination::{Cursor, Page, StoryListQuery};
use crate::ports::{DependencyCheck, HealthProbe, StoryRepository};

#[derive(Debug, Default)]
pub struct MemoryStoryRepository {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    last_id: u64,
    stories: BTreeMap<u64, Story>,
    unavailable: bool,
}

impl MemoryStoryRepository {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later call fail as if the table were unreachable.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock().unavailable = unavailable;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn check_available(state: &MemoryState) -> Result<()> {
        if state.unavailable {
            return Err(Error::DependencyUnavailable {
                dependency: "stories table",
                message: "the in-memory table is switched off".into(),
            });
        }
        Ok(())
    }
}

impl StoryRepository for MemoryStoryRepository {
    async fn create(&self, story: NewStory, now: DateTime<Utc>) -> Result<Story> {
        let mut state = self.lock();
        Self::check_available(&state)?;
        if let Some(parent) = story.parent_id
            && !state.stories.contains_key(&parent)
        {
            return Err(Error::ParentNotFound { id: parent });
        }
        state.last_id += 1;
        let story = story.into_story(state.last_id, now);
        state.stories.insert(story.id, story.clone());
        Ok(story)
    }

    async fn get(&self, id: u64) -> Result<Option<Story>> {
        let state = self.lock();
        Self::check_available(&state)?;
        Ok(state.stories.get(&id).cloned())
    }

    async fn list(&self, query: &StoryListQuery) -> Result<Page<Story>> {
        let state = self.lock();
        Self::check_available(&state)?;
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
