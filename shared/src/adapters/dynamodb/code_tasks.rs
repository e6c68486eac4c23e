//! The code-tasks table: the durable record of every code-generation job. Creating a task and
//! claiming its story happen in one transaction, so a story never has two active tasks.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::stories::failed_conditions;
use crate::adapters::expression::UpdateExpression;
use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::model::{CodeTask, HandOffStage, SortableTime, Story, StoryStatus, TaskStatus};
use crate::ports::{
    CancelOutcome, CodeTaskRepository, CreateTaskOutcome, FollowUp, FollowUpOutcome, PullRequest,
    RECENT_TASKS,
};

const TASKS: &str = "code tasks table";

/// Whether new triggers join the active task itself (a revision that has not started) rather
/// than wait for the next one.
pub(crate) fn joins_queued_revision(active: &CodeTask) -> bool {
    active.status == TaskStatus::Queued && active.kind == crate::model::TaskKind::Revise
}
pub const STORY_INDEX: &str = "storyId-createdAt-index";
pub const STATUS_INDEX: &str = "status-updatedAt-index";

#[derive(Debug, Clone)]
pub struct DynamoCodeTaskRepository {
    client: Client,
    table: String,
    stories_table: String,
    /// Where a trigger's once-keys are kept (a week, by TTL); only the functions that start
    /// follow-ups have it.
    triggers_table: Option<String>,
    /// Where history entries go (the projects table): a task's start is recorded with it.
    history: Option<String>,
}

/// How long a delivery or review id is remembered: longer than GitHub offers redelivery.
const ONCE_KEY_DAYS: i64 = 7;

fn build_error(error: impl std::fmt::Display) -> Error {
    Error::Internal(error.to_string())
}

fn read_task(item: HashMap<String, AttributeValue>) -> Result<CodeTask> {
    serde_dynamo::from_item(item)
        .map_err(|error| Error::Internal(format!("reading a code task: {error}")))
}

impl DynamoCodeTaskRepository {
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    pub fn new(client: Client, table: impl Into<String>, stories_table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            stories_table: stories_table.into(),
            triggers_table: None,
            history: None,
        }
    }

    pub fn with_triggers_table(mut self, table: impl Into<String>) -> Self {
        self.triggers_table = Some(table.into());
        self
    }

    /// The same, recording a task's start in `table`'s history items.
    pub fn with_history(mut self, table: impl Into<String>) -> Self {
        self.history = Some(table.into());
        self
    }

    fn once_key_puts(&self, keys: &[String], now: DateTime<Utc>) -> Result<Vec<TransactWriteItem>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let table = self
            .triggers_table
            .as_deref()
            .ok_or_else(|| Error::Internal("no triggers table configured".into()))?;
        let expires = (now + chrono::Duration::days(ONCE_KEY_DAYS)).timestamp();
        keys.iter()
            .map(|key| {
                let put = Put::builder()
                    .table_name(table)
                    .item("key", AttributeValue::S(key.clone()))
                    .item("expiresAt", AttributeValue::N(expires.to_string()))
                    .condition_expression("attribute_not_exists(#key)")
                    .expression_attribute_names("#key", "key")
                    .build()
                    .map_err(build_error)?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }

    /// The story's side of starting a task: it becomes the active one, and the story In
    /// Progress, if nothing changed since it was read.
    fn claim_story(&self, task: &CodeTask, story: &Story) -> Result<Update> {
        let mut claim = UpdateExpression::new();
        claim.set("activeTaskId", &task.task_id)?;
        claim.set("status", &StoryStatus::InProgress)?;
        claim.set("updatedAt", &task.created_at)?;
        claim.increment("version");
        claim.require_exists("id");
        claim.require_equals("status", &story.status)?;
        claim.require_absent("activeTaskId");
        claim.require_absent("deleting");
        claim.transaction_update(&self.stories_table, Self::story_key(story.id))
    }

    fn key(task_id: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([("taskId".to_owned(), AttributeValue::S(task_id.to_owned()))])
    }

    /// The Put of a task that must not exist yet: a new id, never an overwrite.
    fn put_new(&self, task: &CodeTask) -> Result<Put> {
        let item =
            serde_dynamo::to_item(task).map_err(|error| Error::Internal(error.to_string()))?;
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(taskId)")
            .build()
            .map_err(build_error)
    }

    fn update(&self, task_id: &str, expression: &UpdateExpression) -> Result<Update> {
        expression.transaction_update(&self.table, Self::key(task_id))
    }

    fn story_key(story_id: u64) -> HashMap<String, AttributeValue> {
        HashMap::from([("id".to_owned(), AttributeValue::N(story_id.to_string()))])
    }

    /// The story's side of ending a task: no longer its active task.
    pub(crate) fn release_story(
        &self,
        story_id: u64,
        task_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Update> {
        let mut expression = UpdateExpression::new();
        expression.set_or_remove::<String>("activeTaskId", &None)?;
        expression.set("updatedAt", &now)?;
        expression.require_equals("activeTaskId", &task_id)?;
        expression.transaction_update(&self.stories_table, Self::story_key(story_id))
    }

    /// Ends a task and releases its story in one transaction; if the story no longer points
    /// at the task (deleted, or released already), ends the task alone.
    pub(crate) async fn finish_and_release(
        &self,
        task: &CodeTask,
        finish: &UpdateExpression,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(self.update(&task.task_id, finish)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(self.release_story(task.story_id, &task.task_id, now)?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.first() == Some(&true) => Ok(false),
                Some(failed) if failed.get(1) == Some(&true) => {
                    self.conditional_update(&task.task_id, finish).await
                }
                _ => Err(sdk_error(TASKS, error)),
            },
        }
    }
}

impl DynamoCodeTaskRepository {
    /// Ends a task and, in the same transaction, records `next` and makes it the story's active
    /// task: `Some(true)`. `None` when a condition failed (read again and retry); `Some(false)`
    /// when the story no longer names the task (deleted): the task ends alone, `next` is not
    /// recorded.
    pub(crate) async fn finish_and_follow(
        &self,
        task: &CodeTask,
        finish: &UpdateExpression,
        next: &CodeTask,
    ) -> Result<Option<bool>> {
        let put = self.put_new(next)?;
        let mut hand_over = UpdateExpression::new();
        hand_over.set("activeTaskId", &next.task_id)?;
        hand_over.set("updatedAt", &next.created_at)?;
        hand_over.require_equals("activeTaskId", &task.task_id)?;
        let result =
            self.client
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .update(self.update(&task.task_id, finish)?)
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(put).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .update(hand_over.transaction_update(
                            &self.stories_table,
                            Self::story_key(task.story_id),
                        )?)
                        .build(),
                )
                .send()
                .await;
        match result {
            Ok(_) => Ok(Some(true)),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.get(2) == Some(&true) && failed.first() != Some(&true) => {
                    Ok(self
                        .conditional_update(&task.task_id, finish)
                        .await?
                        .then_some(false))
                }
                Some(_) => Ok(None),
                _ => Err(sdk_error(TASKS, error)),
            },
        }
    }

    /// One UpdateItem; false when its condition did not hold.
    pub(crate) async fn conditional_update(
        &self,
        task_id: &str,
        expression: &UpdateExpression,
    ) -> Result<bool> {
        let result = expression
            .update_item(&self.client, &self.table, Self::key(task_id))
            .send()
            .await;
        super::condition_held(TASKS, result)
    }
}

impl CodeTaskRepository for DynamoCodeTaskRepository {
    async fn create_for_story(
        &self,
        task: &CodeTask,
        story: &Story,
        author: &crate::history::Author,
    ) -> Result<CreateTaskOutcome> {
        let put = self.put_new(task)?;
        let update = self.claim_story(task, story)?;
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build());
        if let Some(table) = &self.history {
            let entry =
                crate::history::HistoryEntry::code_task_started(story, task, author.clone());
            transaction = transaction.transact_items(super::history::history_put(table, &entry)?);
        }
        let result = transaction.send().await;
        match result {
            Ok(_) => Ok(CreateTaskOutcome::Created),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.first() == Some(&true) => Ok(CreateTaskOutcome::TaskExists),
                Some(failed) if failed.get(1) == Some(&true) => Ok(CreateTaskOutcome::StoryChanged),
                _ => Err(sdk_error(TASKS, error)),
            },
        }
    }

    async fn get(&self, task_id: &str) -> Result<Option<CodeTask>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(task_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(TASKS, error))?;
        output.item.map(read_task).transpose()
    }

    async fn recent_for_story(&self, story_id: u64) -> Result<Vec<CodeTask>> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(STORY_INDEX)
            .key_condition_expression("storyId = :story")
            .expression_attribute_values(":story", AttributeValue::N(story_id.to_string()))
            .scan_index_forward(false)
            .limit(i32::try_from(RECENT_TASKS).unwrap_or(10))
            .send()
            .await
            .map_err(|error| sdk_error(TASKS, error))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(read_task)
            .collect()
    }

    async fn record_hand_off(
        &self,
        task_id: &str,
        stage: HandOffStage,
        pull_request: Option<&PullRequest>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut expression = UpdateExpression::new();
        expression.set("handOff", &stage)?;
        if let Some(pull) = pull_request {
            expression.set("prNumber", &pull.number)?;
            expression.set("prUrl", &pull.url)?;
        }
        expression.set("updatedAt", &SortableTime(now))?;
        expression.require_exists("taskId");
        if self.conditional_update(task_id, &expression).await? {
            Ok(())
        } else {
            Err(Error::TaskNotFound {
                task_id: task_id.to_owned(),
            })
        }
    }

    async fn release_hand_off(&self, task_id: &str) -> Result<()> {
        let mut expression = UpdateExpression::new();
        expression.set_or_remove::<String>("handOffUntil", &None)?;
        expression.require_exists("taskId");
        self.conditional_update(task_id, &expression)
            .await
            .map(|_| ())
    }

    async fn start_follow_up(&self, follow_up: &FollowUp) -> Result<FollowUpOutcome> {
        let now = follow_up.next.created_at;
        let once = self.once_key_puts(&follow_up.once_keys, now)?;
        let mut items = Vec::new();
        let coalesced_into = match &follow_up.active {
            Some(active) => {
                let mut wait = UpdateExpression::new();
                if joins_queued_revision(active) {
                    // Not started yet: the revision reads these with its own triggers.
                    wait.append_to_list("triggers", &follow_up.next.triggers)?;
                    wait.require_equals("status", &TaskStatus::Queued)?;
                } else {
                    wait.append_to_list("pendingTriggers", &follow_up.next.triggers)?;
                    wait.require_one_of("status", &[TaskStatus::Queued, TaskStatus::Running])?;
                }
                wait.set("updatedAt", &SortableTime(now))?;
                items.push(
                    TransactWriteItem::builder()
                        .update(self.update(&active.task_id, &wait)?)
                        .build(),
                );
                Some(active.task_id.clone())
            }
            None => {
                items.push(
                    TransactWriteItem::builder()
                        .put(self.put_new(&follow_up.next)?)
                        .build(),
                );
                items.push(
                    TransactWriteItem::builder()
                        .update(self.claim_story(&follow_up.next, &follow_up.story)?)
                        .build(),
                );
                None
            }
        };
        let task_items = items.len();
        items.extend(once);
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(match coalesced_into {
                Some(task_id) => FollowUpOutcome::Coalesced { task_id },
                None => FollowUpOutcome::Created(Box::new(follow_up.next.clone())),
            }),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.iter().skip(task_items).any(|failed| *failed) => {
                    Ok(FollowUpOutcome::Duplicate)
                }
                Some(failed) if failed.iter().any(|failed| *failed) => {
                    Ok(FollowUpOutcome::StoryChanged)
                }
                _ => Err(sdk_error(TASKS, error)),
            },
        }
    }

    async fn drop_pending_triggers(&self, task_id: &str) -> Result<()> {
        let mut expression = UpdateExpression::new();
        expression.set_or_remove::<String>("pendingTriggers", &None)?;
        expression.require_exists("taskId");
        self.conditional_update(task_id, &expression)
            .await
            .map(|_| ())
    }

    async fn request_cancel(&self, task_id: &str, now: DateTime<Utc>) -> Result<CancelOutcome> {
        // A queued task may start while we cancel it; then the running branch applies.
        for _ in 0..3 {
            let Some(task) = self.get(task_id).await? else {
                return Ok(CancelOutcome::NotFound);
            };
            let done = match task.status {
                TaskStatus::Queued => {
                    let mut finish = UpdateExpression::new();
                    finish.set("status", &TaskStatus::Cancelled)?;
                    finish.set("finishedAt", &now)?;
                    finish.set("updatedAt", &SortableTime(now))?;
                    finish.set("error", &"cancelled before it started")?;
                    finish.require_equals("status", &TaskStatus::Queued)?;
                    self.finish_and_release(&task, &finish, now).await?
                }
                TaskStatus::Running => {
                    let mut request = UpdateExpression::new();
                    request.set("cancelRequested", &true)?;
                    request.set("updatedAt", &SortableTime(now))?;
                    request.require_equals("status", &TaskStatus::Running)?;
                    self.conditional_update(task_id, &request).await?
                }
                _ => return Ok(CancelOutcome::AlreadyFinished(Box::new(task))),
            };
            if done {
                let task = self
                    .get(task_id)
                    .await?
                    .ok_or_else(|| Error::TaskNotFound {
                        task_id: task_id.to_owned(),
                    })?;
                return Ok(match task.status {
                    TaskStatus::Cancelled => CancelOutcome::Cancelled(Box::new(task)),
                    TaskStatus::Running => CancelOutcome::Requested(Box::new(task)),
                    _ => CancelOutcome::AlreadyFinished(Box::new(task)),
                });
            }
        }
        Err(Error::ConcurrentUpdate)
    }
}
