//! In-memory adapters for unit tests of handlers: the same contracts as DynamoDB, no I/O. One
//! store holds stories and tests so existence rules (a test needs its story) hold here too.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::history::{Author, HistoryCursor, HistoryEntry};
use crate::model::{
    AcceptanceTest, CodeTask, HandOffStage, NewStory, Story, StoryStatus, StorySummary, TaskStatus,
};
use crate::pagination::{Page, StoryListQuery};
use crate::ports::{
    AcceptanceTestRepository, CancelOutcome, CodeHost, CodeTaskRepository, CreateTaskOutcome,
    DependencyCheck, FollowUp, FollowUpOutcome, HealthProbe, LinkStore, LinkWrite, MAX_CHILDREN,
    PullRequest, PullRequestState, PullRequestStatus, RECENT_TASKS, ReviewComment,
    ReviewerDirectory, StoryChanges, StoryRepository, TaskQueue, TestChanges, TestUpdateOutcome,
    UpdateGuard, UpdateOutcome,
};
use crate::ports::{HistoryLog, HistoryPage, TrashBin, TrashedStory};
use crate::project::StoryNumbering;
use crate::rules::dependencies::LinkGraph;

#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<MemoryState>>,
}

#[derive(Debug, Default)]
struct MemoryState {
    /// Each project's last story number, by ordinal.
    last_numbers: BTreeMap<u32, u32>,
    /// Each project's last acceptance-test number (`AT-n`), by ordinal.
    test_numbers: BTreeMap<u32, u32>,
    stories: BTreeMap<u64, Story>,
    deleting: BTreeSet<u64>,
    tests: BTreeMap<(u64, String), AcceptanceTest>,
    tasks: BTreeMap<String, CodeTask>,
    sent: Vec<String>,
    once_keys: BTreeSet<String>,
    unavailable: bool,
    /// Each project's link graph, by project id.
    links: BTreeMap<String, LinkGraph>,
    /// Every history entry, in the order written.
    history: Vec<HistoryEntry>,
    /// Deleted subtrees by project id and top story.
    trash: BTreeMap<(String, u64), KeptSubtree>,
}

/// What the trash holds of one delete.
#[derive(Debug, Clone)]
struct KeptSubtree {
    head: TrashedStory,
    stories: BTreeMap<u64, Story>,
    tests: BTreeMap<(u64, String), AcceptanceTest>,
    links: Vec<crate::rules::dependencies::Link>,
}

impl MemoryState {
    /// The story with its child counters as DynamoDB keeps them (absent until it has had a
    /// child).
    fn counted(&self, story: &Story) -> Story {
        let children: Vec<&Story> = self
            .stories
            .values()
            .filter(|child| child.parent_id == Some(story.id))
            .collect();
        let mut story = story.clone();
        if !children.is_empty() {
            story.child_count = u32::try_from(children.len()).ok();
            story.done_child_count = u32::try_from(
                children
                    .iter()
                    .filter(|child| child.status == StoryStatus::Done)
                    .count(),
            )
            .ok();
        }
        story
    }
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

impl LinkStore for MemoryStore {
    async fn graph(&self, project_id: &str) -> Result<LinkGraph> {
        Ok(self
            .lock()?
            .links
            .get(project_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn write(&self, project_id: &str, write: &LinkWrite<'_>) -> Result<bool> {
        let mut state = self.lock()?;
        let usable = |state: &MemoryState, id: &u64| {
            state.stories.contains_key(id) && !state.deleting.contains(id)
        };
        let graph_version = state.links.get(project_id).map_or(0, |graph| graph.version);
        let story_current = state
            .stories
            .get(&write.story_id)
            .is_some_and(|story| story.version == write.story_version);
        if graph_version != write.graph_version
            || !story_current
            || !usable(&state, &write.story_id)
            || !write.linked.iter().all(|id| usable(&state, id))
        {
            return Ok(false);
        }
        state.links.insert(
            project_id.to_owned(),
            LinkGraph {
                version: graph_version + 1,
                links: write.links.to_vec(),
            },
        );
        if let Some(story) = state.stories.get_mut(&write.story_id) {
            story.version += 1;
            story.updated_at = write.now;
            story.updated_by = Some(write.updated_by.to_owned());
        }
        state.history.extend(write.entry.cloned());
        Ok(true)
    }

    async fn forget(&self, project_id: &str, ids: &[u64]) -> Result<()> {
        let mut state = self.lock()?;
        if let Some(graph) = state.links.get_mut(project_id) {
            let gone = ids.iter().copied().collect();
            let links = graph.without(&gone);
            if links.len() != graph.links.len() {
                graph.links = links;
                graph.version += 1;
            }
        }
        Ok(())
    }
}

impl StoryRepository for MemoryStore {
    async fn create(
        &self,
        numbering: StoryNumbering,
        story: NewStory,
        now: DateTime<Utc>,
    ) -> Result<Story> {
        let mut state = self.lock()?;
        if let Some(parent) = story.parent_id
            && !state.parent_usable(parent)
        {
            return Err(Error::ParentNotFound { id: parent });
        }
        let last = state.last_numbers.entry(numbering.ordinal).or_default();
        *last += 1;
        let author = story.created_by.clone().unwrap_or_else(Author::unknown);
        let story = story.into_story(numbering.story_id(*last), now);
        state.stories.insert(story.id, story.clone());
        state
            .history
            .push(HistoryEntry::story_created(&story, author, now));
        Ok(story)
    }

    async fn get(&self, id: u64) -> Result<Option<Story>> {
        let state = self.lock()?;
        Ok(state.stories.get(&id).map(|story| state.counted(story)))
    }

    async fn list(&self, query: &StoryListQuery) -> Result<Page<Story>> {
        let state = self.lock()?;
        let (low, high) = query.numbering.id_range();
        let start = query
            .after
            .map_or(low, |cursor| cursor.id.saturating_add(1).max(low));
        let mut matching = state
            .stories
            .range(start..=high)
            .map(|(_, story)| story)
            .filter(|story| query.parent_id.is_none() || story.parent_id == query.parent_id)
            .filter(|story| !query.roots || story.parent_id.is_none())
            .filter(|story| query.status.is_none_or(|status| story.status == status));
        let items: Vec<Story> = matching
            .by_ref()
            .take(query.limit)
            .map(|story| state.counted(story))
            .collect();
        let next = match (items.last(), matching.next()) {
            (Some(last), Some(_)) => Some(query.cursor_after(last.id)),
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
        let entry = HistoryEntry::story_changed(current, &next, &changes.history_note(), now);
        state.stories.insert(id, next.clone());
        state.history.extend(entry);
        Ok(UpdateOutcome::Updated(Box::new(next)))
    }

    async fn record_ai_review(
        &self,
        id: u64,
        review: &crate::model::AiReview,
        for_hash: Option<&str>,
    ) -> Result<bool> {
        let mut state = self.lock()?;
        let Some(story) = state.stories.get_mut(&id) else {
            return Ok(false);
        };
        if let Some(hash) = for_hash
            && story
                .ai_review
                .as_ref()
                .map(|review| review.content_hash.as_str())
                != Some(hash)
        {
            return Ok(false);
        }
        story.ai_review = Some(review.clone());
        Ok(true)
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
    async fn create(&self, test: &AcceptanceTest, author: &Author) -> Result<()> {
        let mut state = self.lock()?;
        if !state.parent_usable(test.story_id) {
            return Err(Error::StoryNotFound { id: test.story_id });
        }
        let existing = state
            .tests
            .keys()
            .filter(|(story_id, _)| *story_id == test.story_id)
            .count();
        if existing >= crate::ports::MAX_TESTS_PER_STORY as usize {
            return Err(Error::TooManyTests {
                story_id: test.story_id,
                limit: crate::ports::MAX_TESTS_PER_STORY,
            });
        }
        state
            .tests
            .insert((test.story_id, test.id.clone()), test.clone());
        let entry = HistoryEntry::test_changed(None, Some(test), author.clone(), test.created_at);
        state.history.extend(entry);
        Ok(())
    }

    async fn get(&self, story_id: u64, id: &str) -> Result<Option<AcceptanceTest>> {
        Ok(self.lock()?.tests.get(&(story_id, id.to_owned())).cloned())
    }

    async fn allocate_test_key(&self, story_id: u64) -> Result<String> {
        let mut state = self.lock()?;
        let ordinal = crate::project::StoryNumbering::of_story(story_id).ordinal;
        let number = state.test_numbers.entry(ordinal).or_default();
        *number += 1;
        Ok(crate::traceability::test_key(*number))
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
        let before = test.clone();
        *test = changes.apply_to(test);
        test.version += 1;
        test.updated_at = now;
        let after = test.clone();
        if changes.touches_recorded_fields() {
            let author = changes.history_author();
            let entry = HistoryEntry::test_changed(Some(&before), Some(&after), author, now);
            state.history.extend(entry);
        }
        Ok(TestUpdateOutcome::Updated(Box::new(after)))
    }

    async fn delete(&self, story_id: u64, id: &str, author: &Author) -> Result<bool> {
        let mut state = self.lock()?;
        let Some(removed) = state.tests.remove(&(story_id, id.to_owned())) else {
            return Ok(false);
        };
        let entry = HistoryEntry::test_changed(Some(&removed), None, author.clone(), Utc::now());
        state.history.extend(entry);
        Ok(true)
    }

    async fn delete_all(&self, story_id: u64) -> Result<()> {
        self.lock()?
            .tests
            .retain(|(owner, _), _| *owner != story_id);
        Ok(())
    }

    async fn mark_needs_review(&self, story_id: u64, now: DateTime<Utc>) -> Result<()> {
        for test in self.lock()?.tests.values_mut() {
            if test.story_id == story_id && !test.needs_review {
                test.needs_review = true;
                test.updated_at = now;
            }
        }
        Ok(())
    }
}

impl TrashBin for MemoryStore {
    async fn keep(
        &self,
        project_id: &str,
        top: u64,
        ids: &[u64],
        links: &[crate::rules::dependencies::Link],
        author: &Author,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut state = self.lock()?;
        let stories: Vec<Story> = ids
            .iter()
            .filter_map(|id| state.stories.get(id).map(|story| state.counted(story)))
            .collect();
        let tests: Vec<AcceptanceTest> = state
            .tests
            .values()
            .filter(|test| ids.contains(&test.story_id))
            .cloned()
            .collect();
        let key = (project_id.to_owned(), top);
        if !state.trash.contains_key(&key) {
            let Some(top_story) = stories.iter().find(|story| story.id == top) else {
                return Ok(());
            };
            let head = TrashedStory {
                story_id: top,
                title: top_story.title.clone(),
                parent_id: top_story.parent_id,
                deleted_at: now,
                deleted_by: author.clone(),
                story_ids: Vec::new(),
                test_count: 0,
                purge_at: now + chrono::Duration::days(crate::ports::TRASH_DAYS),
            };
            let entry = HistoryEntry::story_deleted(&head, ids.len(), tests.len());
            state.history.push(entry);
            state.trash.insert(
                key.clone(),
                KeptSubtree {
                    head,
                    stories: BTreeMap::new(),
                    tests: BTreeMap::new(),
                    links: Vec::new(),
                },
            );
        }
        let Some(kept) = state.trash.get_mut(&key) else {
            return Ok(());
        };
        for story in stories {
            kept.stories.insert(story.id, story);
        }
        for test in tests {
            kept.tests.insert((test.story_id, test.id.clone()), test);
        }
        for link in links {
            if !kept.links.contains(link) {
                kept.links.push(*link);
            }
        }
        kept.head.story_ids = kept.stories.keys().copied().collect();
        kept.head.test_count = kept.tests.len();
        Ok(())
    }

    async fn trashed(&self, project_id: &str) -> Result<Vec<TrashedStory>> {
        let state = self.lock()?;
        let mut heads: Vec<TrashedStory> = state
            .trash
            .iter()
            .filter(|((project, _), _)| project == project_id)
            .map(|(_, kept)| kept.head.clone())
            .collect();
        heads.sort_by_key(|head| std::cmp::Reverse(head.deleted_at));
        Ok(heads)
    }

    async fn trashed_one(&self, project_id: &str, top: u64) -> Result<Option<TrashedStory>> {
        Ok(self
            .lock()?
            .trash
            .get(&(project_id.to_owned(), top))
            .map(|kept| kept.head.clone()))
    }

    async fn restore(
        &self,
        project_id: &str,
        top: u64,
        author: &Author,
        now: DateTime<Utc>,
    ) -> Result<Option<crate::ports::Restored>> {
        let mut state = self.lock()?;
        let Some(kept) = state.trash.remove(&(project_id.to_owned(), top)) else {
            return Ok(None);
        };
        let as_root = kept
            .head
            .parent_id
            .is_some_and(|parent| !state.parent_usable(parent));
        for (id, mut story) in kept.stories {
            if id == top && as_root {
                story.parent_id = None;
            }
            state.stories.insert(id, story);
        }
        state.tests.extend(kept.tests);
        let graph = state.links.entry(project_id.to_owned()).or_default();
        let mut added = false;
        for link in kept.links {
            if !graph.links.contains(&link) {
                graph.links.push(link);
                added = true;
            }
        }
        if added {
            graph.version += 1;
        }
        let entry = HistoryEntry::story_restored(&kept.head, author.clone(), now, as_root);
        state.history.push(entry);
        Ok(Some(crate::ports::Restored {
            trashed: kept.head,
            as_root,
        }))
    }

    async fn purge(&self, project_id: &str, top: u64) -> Result<Option<TrashedStory>> {
        Ok(self
            .lock()?
            .trash
            .remove(&(project_id.to_owned(), top))
            .map(|kept| kept.head))
    }
}

impl HistoryLog for MemoryStore {
    async fn story_history(
        &self,
        story_id: u64,
        limit: usize,
        after: Option<&HistoryCursor>,
    ) -> Result<HistoryPage> {
        let state = self.lock()?;
        Ok(history_page(
            state
                .history
                .iter()
                .filter(|entry| entry.story_id == Some(story_id)),
            limit,
            after,
        ))
    }

    async fn project_feed(
        &self,
        project: u32,
        limit: usize,
        after: Option<&HistoryCursor>,
    ) -> Result<HistoryPage> {
        let state = self.lock()?;
        Ok(history_page(
            state
                .history
                .iter()
                .filter(|entry| entry.project == project),
            limit,
            after,
        ))
    }
}

/// Newest first by sort key, after the cursor, at most `limit`.
fn history_page<'a>(
    entries: impl Iterator<Item = &'a HistoryEntry>,
    limit: usize,
    after: Option<&HistoryCursor>,
) -> HistoryPage {
    let mut sorted: Vec<&HistoryEntry> = entries
        .filter(|entry| after.is_none_or(|after| entry.sort_key() < after.sk))
        .collect();
    sorted.sort_by_key(|entry| std::cmp::Reverse(entry.sort_key()));
    let more = sorted.len() > limit;
    let entries: Vec<HistoryEntry> = sorted.into_iter().take(limit).cloned().collect();
    let next = more
        .then(|| entries.last().map(HistoryEntry::cursor))
        .flatten();
    HistoryPage { entries, next }
}

impl MemoryStore {
    /// Every history entry written so far, oldest first (tests).
    pub fn history(&self) -> Vec<HistoryEntry> {
        self.lock_any().history.clone()
    }

    /// Sets a task's hand-off claim (tests of concurrent hand-offs).
    pub fn set_hand_off_until(&self, task_id: &str, until: DateTime<Utc>) {
        if let Some(task) = self.lock_any().tasks.get_mut(task_id) {
            task.hand_off_until = Some(until);
        }
    }

    /// Changes a stored task in place (tests that need a task in a given state).
    pub fn edit_task(&self, task_id: &str, edit: impl FnOnce(&mut CodeTask)) {
        if let Some(task) = self.lock_any().tasks.get_mut(task_id) {
            edit(task);
        }
    }

    /// Ends a task as a worker would, releasing its story.
    pub fn finish_task(&self, task_id: &str, status: TaskStatus) {
        let mut state = self.lock_any();
        let Some(task) = state.tasks.get_mut(task_id) else {
            return;
        };
        task.status = status;
        task.finished_at = Some(Utc::now());
        let story_id = task.story_id;
        if let Some(story) = state.stories.get_mut(&story_id)
            && story.active_task_id.as_deref() == Some(task_id)
        {
            story.active_task_id = None;
        }
    }

    /// Task ids sent to the queue, in order.
    pub fn sent_task_ids(&self) -> Vec<String> {
        self.lock_any().sent.clone()
    }
}

impl CodeTaskRepository for MemoryStore {
    async fn create_for_story(
        &self,
        task: &CodeTask,
        story: &Story,
        author: &Author,
    ) -> Result<CreateTaskOutcome> {
        let mut state = self.lock()?;
        if state.tasks.contains_key(&task.task_id) {
            return Ok(CreateTaskOutcome::TaskExists);
        }
        let deleting = state.deleting.contains(&story.id);
        let Some(current) = state.stories.get_mut(&story.id) else {
            return Ok(CreateTaskOutcome::StoryChanged);
        };
        if current.active_task_id.is_some() || current.status != story.status || deleting {
            return Ok(CreateTaskOutcome::StoryChanged);
        }
        current.active_task_id = Some(task.task_id.clone());
        current.status = StoryStatus::InProgress;
        current.version += 1;
        state.tasks.insert(task.task_id.clone(), task.clone());
        let entry = HistoryEntry::code_task_started(story, task, author.clone());
        state.history.push(entry);
        Ok(CreateTaskOutcome::Created)
    }

    async fn get(&self, task_id: &str) -> Result<Option<CodeTask>> {
        Ok(self.lock()?.tasks.get(task_id).cloned())
    }

    async fn recent_for_story(&self, story_id: u64) -> Result<Vec<CodeTask>> {
        let mut tasks: Vec<CodeTask> = self
            .lock()?
            .tasks
            .values()
            .filter(|task| task.story_id == story_id)
            .cloned()
            .collect();
        tasks.sort_by_key(|task| std::cmp::Reverse(task.created_at));
        tasks.truncate(RECENT_TASKS);
        Ok(tasks)
    }

    async fn record_hand_off(
        &self,
        task_id: &str,
        stage: HandOffStage,
        pull_request: Option<&PullRequest>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut state = self.lock()?;
        let task = state
            .tasks
            .get_mut(task_id)
            .ok_or_else(|| Error::TaskNotFound {
                task_id: task_id.to_owned(),
            })?;
        task.hand_off = stage;
        if let Some(pull) = pull_request {
            task.pr_number = Some(pull.number);
            task.pr_url = Some(pull.url.clone());
        }
        task.updated_at = now;
        Ok(())
    }

    async fn request_cancel(&self, task_id: &str, now: DateTime<Utc>) -> Result<CancelOutcome> {
        let mut state = self.lock()?;
        let Some(task) = state.tasks.get_mut(task_id) else {
            return Ok(CancelOutcome::NotFound);
        };
        match task.status {
            TaskStatus::Queued => {
                task.status = TaskStatus::Cancelled;
                task.finished_at = Some(now);
                task.updated_at = now;
                let task = task.clone();
                if let Some(story) = state.stories.get_mut(&task.story_id)
                    && story.active_task_id.as_deref() == Some(task_id)
                {
                    story.active_task_id = None;
                }
                Ok(CancelOutcome::Cancelled(Box::new(task)))
            }
            TaskStatus::Running => {
                task.cancel_requested = true;
                task.updated_at = now;
                Ok(CancelOutcome::Requested(Box::new(task.clone())))
            }
            _ => Ok(CancelOutcome::AlreadyFinished(Box::new(task.clone()))),
        }
    }

    async fn release_hand_off(&self, task_id: &str) -> Result<()> {
        self.release(task_id)
    }

    async fn start_follow_up(&self, follow_up: &FollowUp) -> Result<FollowUpOutcome> {
        let mut state = self.lock()?;
        if follow_up
            .once_keys
            .iter()
            .any(|key| state.once_keys.contains(key))
        {
            return Ok(FollowUpOutcome::Duplicate);
        }
        let story_id = follow_up.story.id;
        let deleting = state.deleting.contains(&story_id);
        let Some(current) = state.stories.get(&story_id).cloned() else {
            return Ok(FollowUpOutcome::StoryChanged);
        };
        let outcome = match &follow_up.active {
            Some(active) => {
                let Some(task) = state.tasks.get_mut(&active.task_id) else {
                    return Ok(FollowUpOutcome::StoryChanged);
                };
                if !task.status.is_active() {
                    return Ok(FollowUpOutcome::StoryChanged);
                }
                let joins = task.status == TaskStatus::Queued
                    && task.kind == crate::model::TaskKind::Revise;
                let list = if joins {
                    &mut task.triggers
                } else {
                    &mut task.pending_triggers
                };
                list.extend(follow_up.next.triggers.iter().cloned());
                FollowUpOutcome::Coalesced {
                    task_id: task.task_id.clone(),
                }
            }
            None => {
                if current.active_task_id.is_some()
                    || current.status != follow_up.story.status
                    || deleting
                {
                    return Ok(FollowUpOutcome::StoryChanged);
                }
                let next = follow_up.next.clone();
                if let Some(story) = state.stories.get_mut(&story_id) {
                    story.active_task_id = Some(next.task_id.clone());
                    story.status = StoryStatus::InProgress;
                    story.version += 1;
                }
                state.tasks.insert(next.task_id.clone(), next.clone());
                FollowUpOutcome::Created(Box::new(next))
            }
        };
        state.once_keys.extend(follow_up.once_keys.iter().cloned());
        Ok(outcome)
    }

    async fn drop_pending_triggers(&self, task_id: &str) -> Result<()> {
        if let Some(task) = self.lock()?.tasks.get_mut(task_id) {
            task.pending_triggers.clear();
        }
        Ok(())
    }
}

impl MemoryStore {
    fn release(&self, task_id: &str) -> Result<()> {
        if let Some(task) = self.lock()?.tasks.get_mut(task_id) {
            task.hand_off_until = None;
        }
        Ok(())
    }
}

impl crate::ports::ReviewQueue for MemoryStore {
    async fn send_review(&self, story_id: u64, content_hash: &str) -> Result<()> {
        self.lock()?
            .sent
            .push(format!("review:{story_id}:{content_hash}"));
        Ok(())
    }
}

impl TaskQueue for MemoryStore {
    async fn send(&self, task_id: &str) -> Result<()> {
        self.lock()?.sent.push(task_id.to_owned());
        Ok(())
    }
}

/// A code host that records what it was asked to do; it can be switched off to fail like an
/// unreachable GitHub.
#[derive(Debug, Clone, Default)]
pub struct MemoryCodeHost {
    state: Arc<Mutex<MemoryHostState>>,
    /// `owner/name` this copy acts on (`None`: the configured one); every copy shares the state.
    repository: Option<String>,
}

#[derive(Debug, Default)]
pub struct MemoryHostState {
    pub branches: BTreeSet<String>,
    pub files: BTreeMap<(String, String), String>,
    pub pulls: Vec<(String, String, String)>,
    /// The repository each pull request was opened in, in `pulls`' order (`configured` when the
    /// task named none).
    pub pull_repositories: Vec<String>,
    pub comments: Vec<(u64, String)>,
    pub ready: BTreeSet<u64>,
    /// Pull requests that are no longer open, by number.
    pub closed: BTreeMap<u64, PullRequestStatus>,
    /// GitHub permissions by login; anyone else has none.
    pub permissions: BTreeMap<String, String>,
    pub replies: Vec<(u64, u64, String)>,
    pub review_requests: Vec<(u64, Vec<String>)>,
    pub review_comments: BTreeMap<u64, Vec<ReviewComment>>,
    pub unavailable: bool,
    /// How often git's credential was asked for (the worker asks before cloning and again
    /// right before pushing).
    pub git_token_asks: u64,
}

impl MemoryCodeHost {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn state(&self) -> MutexGuard<'_, MemoryHostState> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn available(&self) -> Result<MutexGuard<'_, MemoryHostState>> {
        let state = self.state();
        if state.unavailable {
            return Err(Error::CodeHostUnavailable {
                message: "switched off by the test".into(),
            });
        }
        Ok(state)
    }
}

impl CodeHost for MemoryCodeHost {
    fn scoped(&self, repository: Option<&crate::project::RepositoryLink>) -> Self {
        Self {
            state: Arc::clone(&self.state),
            repository: repository.map(|link| link.full_name()),
        }
    }

    async fn git_token(&self) -> Result<Option<String>> {
        self.state().git_token_asks += 1;
        Ok(None)
    }

    async fn ensure_branch(&self, branch: &str) -> Result<()> {
        self.available()?.branches.insert(branch.to_owned());
        Ok(())
    }

    async fn ensure_file(
        &self,
        branch: &str,
        path: &str,
        content: &str,
        _message: &str,
    ) -> Result<()> {
        self.available()?
            .files
            .insert((branch.to_owned(), path.to_owned()), content.to_owned());
        Ok(())
    }

    async fn ensure_draft_pull_request(
        &self,
        branch: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest> {
        let mut state = self.available()?;
        let index = match state.pulls.iter().position(|(head, _, _)| head == branch) {
            Some(index) => index,
            None => {
                state
                    .pulls
                    .push((branch.to_owned(), title.to_owned(), body.to_owned()));
                let repository = self.repository.as_deref().unwrap_or("configured");
                state.pull_repositories.push(repository.to_owned());
                state.pulls.len() - 1
            }
        };
        let number = index as u64 + 1;
        Ok(PullRequest {
            number,
            url: format!("memory://pulls/{number}"),
        })
    }

    async fn comment(&self, number: u64, body: &str) -> Result<()> {
        self.available()?.comments.push((number, body.to_owned()));
        Ok(())
    }

    async fn mark_ready_for_review(&self, number: u64) -> Result<()> {
        self.available()?.ready.insert(number);
        Ok(())
    }

    async fn pull_request_state(&self, number: u64) -> Result<PullRequestState> {
        let state = self.available()?;
        let head_ref = usize::try_from(number)
            .ok()
            .and_then(|number| state.pulls.get(number.wrapping_sub(1)))
            .map(|(head, _, _)| head.clone())
            .ok_or_else(|| Error::CodeHostUnavailable {
                message: format!("no pull request {number}"),
            })?;
        Ok(PullRequestState {
            status: state
                .closed
                .get(&number)
                .copied()
                .unwrap_or(PullRequestStatus::Open),
            head_ref,
        })
    }

    async fn review_comments(&self, _number: u64, review_id: u64) -> Result<Vec<ReviewComment>> {
        Ok(self
            .available()?
            .review_comments
            .get(&review_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn reply_to_review_comment(
        &self,
        number: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<()> {
        self.available()?
            .replies
            .push((number, comment_id, body.to_owned()));
        Ok(())
    }

    async fn request_review(&self, number: u64, logins: &[String]) -> Result<()> {
        self.available()?
            .review_requests
            .push((number, logins.to_vec()));
        Ok(())
    }
}

/// The AI ledger in memory: answers by key, uses per caller, feature and hour.
#[derive(Debug, Clone, Default)]
pub struct MemoryLedger {
    answers: Arc<Mutex<BTreeMap<String, serde_json::Value>>>,
    uses: Arc<Mutex<BTreeMap<String, u32>>>,
}

impl crate::ports::AssistLedger for MemoryLedger {
    async fn cached(&self, key: &str) -> Result<Option<serde_json::Value>> {
        Ok(self
            .answers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(key)
            .cloned())
    }

    async fn remember(
        &self,
        key: &str,
        value: &serde_json::Value,
        _ttl: std::time::Duration,
        _now: DateTime<Utc>,
    ) -> Result<()> {
        self.answers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(key.to_owned(), value.clone());
        Ok(())
    }

    async fn take_allowance(
        &self,
        caller: &str,
        operation: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<crate::ports::Allowance> {
        let mut uses = self
            .uses
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let used = uses
            .entry(format!("{caller}#{operation}#{}", now.format("%Y%m%d%H")))
            .or_insert(0);
        if *used >= limit {
            return Ok(crate::ports::Allowance::Exhausted {
                retry_after_seconds: 60,
            });
        }
        *used += 1;
        Ok(crate::ports::Allowance::Granted)
    }
}

/// Events published, in order.
#[derive(Debug, Clone, Default)]
pub struct MemoryEvents {
    published: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl MemoryEvents {
    pub fn published(&self) -> Vec<(String, serde_json::Value)> {
        self.published
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

impl crate::ports::EventPublisher for MemoryEvents {
    async fn publish(&self, detail_type: &'static str, detail: serde_json::Value) {
        self.published
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push((detail_type.to_owned(), detail));
    }
}

/// A secret a test chooses, and how often it was read.
#[derive(Debug, Clone, Default)]
pub struct StaticSecret {
    pub value: Arc<Mutex<String>>,
}

impl StaticSecret {
    pub fn new(value: &str) -> Self {
        Self {
            value: Arc::new(Mutex::new(value.to_owned())),
        }
    }
}

impl crate::ports::SecretSource for StaticSecret {
    async fn secret(&self, _refresh: bool) -> Result<String> {
        Ok(self
            .value
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone())
    }
}

/// The account the memory host acts as.
pub const MEMORY_HOST_LOGIN: &str = "aipm-bot";

impl ReviewerDirectory for MemoryCodeHost {
    async fn permission(&self, login: &str) -> Result<String> {
        Ok(self
            .available()?
            .permissions
            .get(login)
            .cloned()
            .unwrap_or_else(|| "none".into()))
    }

    async fn own_login(&self) -> Result<String> {
        drop(self.available()?);
        Ok(MEMORY_HOST_LOGIN.into())
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
            }
        })
        .collect()
    }
}
