//! The worker's side of the code-tasks table: claiming a task under a lease, keeping the lease
//! alive, handing a task back, finishing it, and finding tasks whose worker died.
//!
//! Every write is conditional on who holds the task, so two workers never both run it and a
//! worker that lost its lease cannot overwrite the outcome of the one that took over.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Duration, Utc};

use super::code_tasks::{DynamoCodeTaskRepository, STATUS_INDEX};
use crate::adapters::expression::UpdateExpression;
use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::model::{CodeTask, CommentReply, HandOffStage, SortableTime, TaskStatus};
use crate::ports::CodeTaskRepository;

const TASKS: &str = "code tasks table";

#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    Claimed(Box<CodeTask>),
    /// Nothing to do for this delivery: the task is finished, cancelled, unknown, or another
    /// worker holds a live lease on it.
    Skip(&'static str),
    /// The task is queued but could not be claimed yet: generate-code sends the message before
    /// it records the hand-off as done, so a fast worker can receive it first (and may read the
    /// record just after it changed). The delivery is early, not spent.
    TryAgainShortly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    Continue,
    CancelRequested,
    /// Someone else holds the task now (our lease expired): stop without writing anything.
    LeaseLost,
}

/// How a run ended, as recorded on the task.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunOutcome {
    pub commit_sha: Option<String>,
    pub files_changed: Option<Vec<String>>,
    pub log_tail: Option<String>,
    pub error: Option<String>,
    /// What a revision replied on each review thread.
    pub replies: Option<Vec<CommentReply>>,
}

/// What finishing a task did.
#[derive(Debug, Clone, PartialEq)]
pub enum FinishOutcome {
    /// Recorded; `next` is the revision made of the triggers that waited on the task, to send
    /// to the queue.
    Finished { next: Option<Box<CodeTask>> },
    /// Another worker holds the task now: nothing was written.
    NotHeld,
}

impl DynamoCodeTaskRepository {
    /// Takes a queued task, or a running one whose lease expired, for `worker_id`.
    pub async fn claim(
        &self,
        task_id: &str,
        worker_id: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<ClaimOutcome> {
        let mut expression = UpdateExpression::new();
        expression.set("status", &TaskStatus::Running)?;
        expression.set("workerId", &worker_id)?;
        expression.set("leaseExpiresAt", &SortableTime(now + lease))?;
        expression.set("updatedAt", &SortableTime(now))?;
        expression.set("startedAt", &now)?;
        expression.increment("attempt");
        let names = expression.names();
        let mut names = names;
        names.insert("#cancelRequested".into(), "cancelRequested".into());
        let mut values = expression.values().unwrap_or_default();
        values.insert(":queued".into(), AttributeValue::S("queued".into()));
        values.insert(":running".into(), AttributeValue::S("running".into()));
        values.insert(":no".into(), AttributeValue::Bool(false));
        values.insert(
            ":now".into(),
            AttributeValue::S(SortableTime(now).to_string()),
        );
        values.insert(":enqueued".into(), AttributeValue::S("enqueued".into()));
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("taskId", AttributeValue::S(task_id.to_owned()))
            .update_expression(expression.update_expression())
            .condition_expression(
                "#handOff = :enqueued AND #cancelRequested = :no AND \
                 (#status = :queued OR (#status = :running AND #leaseExpiresAt < :now))",
            )
            .set_expression_attribute_names(Some({
                names.insert("#handOff".into(), "handOff".into());
                names
            }))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let task = serde_dynamo::from_item(output.attributes.unwrap_or_default())
                    .map_err(|error| Error::Internal(format!("reading a claimed task: {error}")))?;
                Ok(ClaimOutcome::Claimed(Box::new(task)))
            }
            Err(SdkError::ServiceError(context))
                if context.err().is_conditional_check_failed_exception() =>
            {
                Ok(match self.get(task_id).await? {
                    None => ClaimOutcome::Skip("unknown task"),
                    Some(task) if task.cancel_requested || task.status == TaskStatus::Cancelled => {
                        ClaimOutcome::Skip("cancelled")
                    }
                    Some(task) if !task.status.is_active() => ClaimOutcome::Skip("finished"),
                    Some(task)
                        if task.hand_off < HandOffStage::Enqueued
                            || task.status == TaskStatus::Queued =>
                    {
                        ClaimOutcome::TryAgainShortly
                    }
                    Some(_) => ClaimOutcome::Skip("leased by a live worker"),
                })
            }
            Err(error) => Err(sdk_error(TASKS, error)),
        }
    }

    /// Extends the lease if this worker still holds it, and reports a cancel request.
    pub async fn heartbeat(
        &self,
        task_id: &str,
        worker_id: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<HeartbeatOutcome> {
        let mut expression = UpdateExpression::new();
        expression.set("leaseExpiresAt", &SortableTime(now + lease))?;
        expression.require_equals("status", &TaskStatus::Running)?;
        expression.require_equals("workerId", &worker_id)?;
        let key = std::collections::HashMap::from([(
            "taskId".to_owned(),
            AttributeValue::S(task_id.to_owned()),
        )]);
        let result = expression
            .update_item(self.client(), self.table(), key)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let cancel = output
                    .attributes
                    .as_ref()
                    .and_then(|item| item.get("cancelRequested"))
                    .is_some_and(|value| value == &AttributeValue::Bool(true));
                Ok(if cancel {
                    HeartbeatOutcome::CancelRequested
                } else {
                    HeartbeatOutcome::Continue
                })
            }
            Err(SdkError::ServiceError(context))
                if context.err().is_conditional_check_failed_exception() =>
            {
                Ok(HeartbeatOutcome::LeaseLost)
            }
            Err(error) => Err(sdk_error(TASKS, error)),
        }
    }

    /// Records the final status, if this worker still holds the task, and releases the story —
    /// or, when triggers waited on the task, hands the story to the next revision made of them
    /// in the same transaction, so a review that arrived meanwhile is never lost, even when the
    /// task itself was cancelled (a closed pull request drops them before cancelling).
    pub async fn finish(
        &self,
        task: &CodeTask,
        worker_id: &str,
        status: TaskStatus,
        outcome: &RunOutcome,
        now: DateTime<Utc>,
    ) -> Result<FinishOutcome> {
        // The task as claimed is tried first: its conditions (still ours, the same triggers
        // waiting) say whether it is still true; only then is it read again.
        let mut current = task.clone();
        for attempt in 0..3 {
            if attempt > 0 {
                current = match self.get(&task.task_id).await? {
                    Some(read)
                        if read.status == TaskStatus::Running
                            && read.worker_id.as_deref() == Some(worker_id) =>
                    {
                        read
                    }
                    _ => return Ok(FinishOutcome::NotHeld),
                };
            }
            let pending = current.pending_triggers.clone();
            let mut finish = UpdateExpression::new();
            finish.set("status", &status)?;
            finish.set("finishedAt", &now)?;
            finish.set("updatedAt", &SortableTime(now))?;
            finish.set_or_remove::<String>("leaseExpiresAt", &None)?;
            if let Some(sha) = &outcome.commit_sha {
                finish.set("commitSha", sha)?;
            }
            if let Some(files) = &outcome.files_changed {
                finish.set("filesChanged", files)?;
            }
            if let Some(tail) = &outcome.log_tail {
                finish.set("logTail", tail)?;
            }
            if let Some(replies) = &outcome.replies {
                finish.set("replies", replies)?;
            }
            finish.set_or_remove("error", &outcome.error)?;
            finish.require_equals("status", &TaskStatus::Running)?;
            finish.require_equals("workerId", &worker_id)?;
            finish.require_list_length("pendingTriggers", pending.len());
            if pending.is_empty() {
                if self.finish_and_release(&current, &finish, now).await? {
                    return Ok(FinishOutcome::Finished { next: None });
                }
                continue;
            }
            let next = current.follow_up(pending, now);
            match self.finish_and_follow(&current, &finish, &next).await? {
                Some(true) => {
                    return Ok(FinishOutcome::Finished {
                        next: Some(Box::new(next)),
                    });
                }
                Some(false) => return Ok(FinishOutcome::Finished { next: None }),
                None => continue,
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    /// Gives a task back to the queue after a transient failure or at shutdown: queued again,
    /// lease dropped, the error kept for the record.
    pub async fn hand_back(
        &self,
        task_id: &str,
        worker_id: &str,
        error: &str,
        log_tail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut expression = UpdateExpression::new();
        expression.set("status", &TaskStatus::Queued)?;
        expression.set("updatedAt", &SortableTime(now))?;
        expression.set("error", &error)?;
        if let Some(tail) = log_tail {
            expression.set("logTail", &tail)?;
        }
        expression.set_or_remove::<String>("leaseExpiresAt", &None)?;
        expression.set_or_remove::<String>("workerId", &None)?;
        expression.require_equals("status", &TaskStatus::Running)?;
        expression.require_equals("workerId", &worker_id)?;
        self.conditional_update(task_id, &expression).await
    }

    /// Marks a task failed without a lease: a message that could not be processed, or a hand-off
    /// that never completed. Releases the story.
    pub async fn fail_unleased(
        &self,
        task: &CodeTask,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut finish = UpdateExpression::new();
        finish.set("status", &TaskStatus::Failed)?;
        finish.set("finishedAt", &now)?;
        finish.set("updatedAt", &SortableTime(now))?;
        finish.set("error", &error)?;
        finish.require_equals("updatedAt", &SortableTime(task.updated_at))?;
        self.finish_and_release(task, &finish, now).await
    }

    /// Active tasks nobody is working on: running with an expired lease, or queued and untouched
    /// since `quiet_since` (a lost queue message, or a hand-off that stopped).
    pub async fn stale(
        &self,
        now: DateTime<Utc>,
        quiet_since: DateTime<Utc>,
    ) -> Result<Vec<CodeTask>> {
        let mut stale = Vec::new();
        for (status, before) in [
            (TaskStatus::Running, now),
            (TaskStatus::Queued, quiet_since),
        ] {
            let output = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(STATUS_INDEX)
                .key_condition_expression("#status = :status AND updatedAt < :before")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(
                    ":status",
                    AttributeValue::S(status.as_str().to_owned()),
                )
                .expression_attribute_values(
                    ":before",
                    AttributeValue::S(SortableTime(before).to_string()),
                )
                .limit(100)
                .send()
                .await
                .map_err(|error| sdk_error(TASKS, error))?;
            for item in output.items.unwrap_or_default() {
                let task: CodeTask = serde_dynamo::from_item(item)
                    .map_err(|error| Error::Internal(format!("reading a code task: {error}")))?;
                let expired = task.lease_expires_at.is_none_or(|expiry| expiry < now);
                if status == TaskStatus::Queued || expired {
                    stale.push(task);
                }
            }
        }
        Ok(stale)
    }
}
