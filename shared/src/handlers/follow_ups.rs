//! Revisions and retries: tasks that follow an earlier one on the same branch and pull request.
//! The API's "Request changes" and "Retry" and the GitHub webhook start them the same way.

use chrono::Utc;

use crate::error::{Error, Result};
use crate::model::{CodeTask, Story, Trigger, TriggerKind};
use crate::ports::{
    CodeHost, CodeTaskRepository, FollowUp, FollowUpOutcome, PullRequestStatus, StoryRepository,
    TaskQueue,
};

/// Triggers one task may gather (its own, and those waiting to become the next revision). Each
/// may carry up to 4,000 characters of feedback, and the task is one DynamoDB item (400 KB).
pub const MAX_TRIGGERS_PER_TASK: usize = 25;

/// What became of a trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    /// A new task, recorded and sent to the worker.
    Task(Box<CodeTask>),
    /// A task was active on the story: the trigger waits on it and becomes the next revision.
    Waiting(Box<CodeTask>),
    /// The trigger had been acted on already (the same delivery, review or retry).
    Duplicate,
}

/// The story's newest task that has a pull request (the one `pr_number` names, if given).
pub async fn pull_request_task<K: CodeTaskRepository>(
    tasks: &K,
    story_id: u64,
    pr_number: Option<u64>,
) -> Result<Option<CodeTask>> {
    Ok(tasks
        .recent_for_story(story_id)
        .await?
        .into_iter()
        .find(|task| {
            task.pr_number.is_some()
                && pr_number.is_none_or(|number| task.pr_number == Some(number))
        }))
}

/// Refuses work on a task's pull request once it is merged or closed; asks the repository the
/// task works in.
pub async fn require_open<H: CodeHost>(host: &H, task: &CodeTask) -> Result<()> {
    let pr_number = task.pr_number.unwrap_or_default();
    let host = host.scoped(task.repository.as_ref());
    match host.pull_request_state(pr_number).await?.status {
        PullRequestStatus::Open => Ok(()),
        PullRequestStatus::Merged => Err(Error::PullRequestClosed {
            pr_number,
            state: "merged",
        }),
        PullRequestStatus::Closed => Err(Error::PullRequestClosed {
            pr_number,
            state: "closed",
        }),
    }
}

/// Records the task that follows `previous` for `triggers` (or adds them to the story's active
/// task), then sends a new task to the queue. `story` is the story as the caller just read it,
/// if it did: the first attempt uses it instead of reading it again. A failed send is logged, not returned: the task is
/// recorded as handed off, and the worker's reconciler sends it again.
pub async fn start<S, K, Q>(
    stories: &S,
    tasks: &K,
    queue: &Q,
    previous: &CodeTask,
    story: Option<Story>,
    triggers: Vec<Trigger>,
    once_keys: Vec<String>,
) -> Result<Started>
where
    S: StoryRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
{
    let retry = triggers
        .iter()
        .all(|trigger| trigger.kind == TriggerKind::Retry);
    let mut known = story;
    for _ in 0..3 {
        let story = match known.take() {
            Some(story) => story,
            None => stories
                .get(previous.story_id)
                .await?
                .ok_or(Error::StoryNotFound {
                    id: previous.story_id,
                })?,
        };
        let active = match &story.active_task_id {
            Some(task_id) => tasks.get(task_id).await?,
            None => None,
        };
        if retry && let Some(active) = &active {
            return Err(Error::ActiveTaskExists {
                task_id: active.task_id.clone(),
            });
        }
        if let Some(active) = &active {
            let waiting = active.triggers.len() + active.pending_triggers.len();
            if waiting + triggers.len() > MAX_TRIGGERS_PER_TASK {
                return Err(Error::TooManyWaitingRequests {
                    task_id: active.task_id.clone(),
                    waiting,
                });
            }
        }
        let follow_up = FollowUp {
            next: previous.follow_up(triggers.clone(), Utc::now()),
            story,
            active,
            once_keys: once_keys.clone(),
        };
        match tasks.start_follow_up(&follow_up).await? {
            FollowUpOutcome::Created(task) => {
                crate::telemetry::count_task_created();
                tracing::info!(task_id = %task.task_id, kind = ?task.kind, revision = task.revision, "follow-up task recorded");
                if let Err(error) = queue.send(&task.task_id).await {
                    tracing::warn!(task_id = %task.task_id, %error, "could not send the task; the reconciler sends it later");
                }
                return Ok(Started::Task(task));
            }
            FollowUpOutcome::Coalesced { task_id } => {
                let task = tasks
                    .get(&task_id)
                    .await?
                    .ok_or(Error::TaskNotFound { task_id })?;
                return Ok(Started::Waiting(Box::new(task)));
            }
            FollowUpOutcome::Duplicate => return Ok(Started::Duplicate),
            FollowUpOutcome::StoryChanged => continue,
        }
    }
    Err(Error::ConcurrentUpdate)
}
