//! The stories table: sequential ids, conditional writes, paged listing, the parent index.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use crate::adapters::expression::UpdateExpression;
use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::history::{Author, HistoryEntry};
use crate::model::{NewStory, Story, StoryStatus, StorySummary};
use crate::pagination::{Cursor, PAGE_BYTE_BUDGET, Page, StoryListQuery};
use crate::ports::{MAX_CHILDREN, StoryChanges, StoryRepository, UpdateGuard, UpdateOutcome};
use crate::project::StoryNumbering;

pub(crate) const STORIES: &str = "stories table";
/// A story may take children (and acceptance tests) only while it exists and is not being
/// deleted; every such write checks this on the parent in the same transaction.
pub(crate) const USABLE_PARENT: &str = "attribute_exists(id) AND attribute_not_exists(deleting)";
/// The global secondary index on `parentId` declared in template.yaml.
pub const PARENT_INDEX: &str = "parentId-index";
/// The sparse index of root stories: a story without a parent carries its project's ordinal in
/// `rootOf`, so a project's first tree level is one Query, not a Scan of every project.
pub const ROOT_INDEX: &str = "rootOf-index";
const ROOT_ATTRIBUTE: &str = "rootOf";
/// Story numbers come from an atomic counter per project, kept in the stories table under
/// the project's number 0 (the default project's is id 0, as before projects).
const COUNTER_ATTRIBUTE: &str = "lastStoryId";
/// An id collision can only follow a counter reset or restore; a few fresh ids settle it.
const ID_ATTEMPTS: usize = 5;
/// A delete that keeps finding the story changed under it gives up after this many reads.
const DELETE_ATTEMPTS: usize = 5;
/// An unguarded update that keeps losing races to other writers of the same story gives up
/// (409 `CONCURRENT_UPDATE`) after this many reads.
const UNGUARDED_ATTEMPTS: usize = 64;
/// Reads a filtered listing may spend looking for matches before returning a short page.
const LIST_ROUNDS: usize = 8;

#[derive(Debug, Clone)]
pub struct DynamoStoryRepository {
    client: Client,
    table: String,
    /// The table history entries go to (the projects table); every change writes its entry in
    /// its own transaction. Only adapter tests that read no history leave it out.
    history: Option<String>,
}

impl DynamoStoryRepository {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            history: None,
        }
    }

    /// The same, recording every change in `table`'s history items.
    pub fn with_history(mut self, table: impl Into<String>) -> Self {
        self.history = Some(table.into());
        self
    }

    /// The Put of `entry` for a change's transaction, when history is kept.
    fn history_put(&self, entry: Option<&HistoryEntry>) -> Result<Option<TransactWriteItem>> {
        super::history::recorded_in(self.history.as_deref(), entry)
    }

    async fn allocate_id(&self, numbering: StoryNumbering) -> Result<u64> {
        let number = add_one_to_counter(
            &self.client,
            &self.table,
            numbering,
            COUNTER_ATTRIBUTE,
            STORIES,
        )
        .await?;
        Ok(numbering.story_id(number))
    }

    /// Writes the story only if its id is free and, for a child, only if the parent exists at
    /// that instant: a transaction, so a concurrent delete cannot leave an orphan behind.
    async fn put_new(&self, story: &Story, author: Option<&Author>) -> Result<PutOutcome> {
        // The id was free a moment ago, so no story by that id can be the parent; DynamoDB
        // would also refuse a transaction that touches one item twice.
        if story.parent_id == Some(story.id) {
            return Ok(PutOutcome::ParentMissing(story.id));
        }
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(story)
            .map_err(|error| Error::Internal(format!("serializing story: {error}")))?;
        if story.parent_id.is_none() {
            item.insert(ROOT_ATTRIBUTE.to_owned(), root_of(story.id));
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(|error| Error::Internal(error.to_string()))?;
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build());
        if let Some(parent) = story.parent_id {
            transaction =
                transaction.transact_items(parent_counts(&self.table, parent, 1, 0, true)?);
        }
        let author = author
            .cloned()
            .or_else(|| {
                story
                    .created_by
                    .as_deref()
                    .map(|sub| Author::new(sub, None))
            })
            .unwrap_or_else(Author::unknown);
        let entry = HistoryEntry::story_created(story, author, story.created_at);
        if let Some(put) = self.history_put(Some(&entry))? {
            transaction = transaction.transact_items(put);
        }
        match transaction.send().await {
            Ok(_) => Ok(PutOutcome::Stored),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.get(1) == Some(&true) => Ok(PutOutcome::ParentMissing(
                    story.parent_id.unwrap_or_default(),
                )),
                Some(failed) if failed.first() == Some(&true) => Ok(PutOutcome::IdTaken),
                _ => Err(sdk_error(STORIES, error)),
            },
        }
    }

    fn start_key(&self, cursor: &Cursor) -> HashMap<String, AttributeValue> {
        let mut key = HashMap::from([("id".to_owned(), AttributeValue::N(cursor.id.to_string()))]);
        if let Some(parent) = cursor.parent_id {
            key.insert("parentId".to_owned(), AttributeValue::N(parent.to_string()));
        }
        if let Some(ordinal) = cursor.root_of {
            key.insert(
                ROOT_ATTRIBUTE.to_owned(),
                AttributeValue::N(ordinal.to_string()),
            );
        }
        key
    }

    /// One read of up to `limit` items from where `after` left off: a Query on the parent
    /// index when listing children, a Scan otherwise.
    async fn read_once(
        &self,
        query: &StoryListQuery,
        limit: usize,
        after: Option<&Cursor>,
    ) -> Result<(Vec<HashMap<String, AttributeValue>>, Option<Cursor>)> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let start = after.map(|cursor| self.start_key(cursor));
        // The filter both reads share. A Scan keeps the project's id range, which leaves out
        // its counter and every other project's stories.
        let mut filters = Vec::new();
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        if query.parent_id.is_none() && !query.roots {
            let (low, high) = query.numbering.id_range();
            filters.push("id BETWEEN :low AND :high");
            values.insert(":low".to_owned(), AttributeValue::N(low.to_string()));
            values.insert(":high".to_owned(), AttributeValue::N(high.to_string()));
        }
        if let Some(status) = query.status {
            filters.push("#status = :status");
            names.insert("#status".to_owned(), "status".to_owned());
            values.insert(
                ":status".to_owned(),
                AttributeValue::S(status.as_str().to_owned()),
            );
        }
        let filter = (!filters.is_empty()).then(|| filters.join(" AND "));
        let names = (!names.is_empty()).then_some(names);
        // A level of the tree is a Query on one of the two indexes.
        let level = match query.parent_id {
            Some(parent) => Some((PARENT_INDEX, "parentId = :key", parent)),
            None if query.roots => Some((
                ROOT_INDEX,
                "rootOf = :key",
                u64::from(query.numbering.ordinal),
            )),
            None => None,
        };
        let (items, last_key) = match level {
            Some((index, condition, key)) => {
                values.insert(":key".to_owned(), AttributeValue::N(key.to_string()));
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(index)
                    .key_condition_expression(condition)
                    .set_filter_expression(filter)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(Some(values))
                    .limit(limit)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|error| sdk_error(STORIES, error))?;
                (output.items, output.last_evaluated_key)
            }
            None => {
                let output = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .set_filter_expression(filter)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(Some(values))
                    .limit(limit)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|error| sdk_error(STORIES, error))?;
                (output.items, output.last_evaluated_key)
            }
        };
        let next = last_key.map(|key| cursor_from_key(&key)).transpose()?;
        Ok((items.unwrap_or_default(), next))
    }
}

/// Adds one to `attribute` of the project's counter item (the stories table's item at the
/// project's number 0) and answers the new value.
pub(crate) async fn add_one_to_counter(
    client: &Client,
    table: &str,
    numbering: StoryNumbering,
    attribute: &str,
    what: &'static str,
) -> Result<u32> {
    let output = client
        .update_item()
        .table_name(table)
        .key("id", AttributeValue::N(numbering.counter_id().to_string()))
        .update_expression("ADD #last :one")
        .expression_attribute_names("#last", attribute)
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(|error| sdk_error(what, error))?;
    output
        .attributes()
        .and_then(|attributes| attributes.get(attribute))
        .and_then(|value| value.as_n().ok())
        .and_then(|number| number.parse::<u32>().ok())
        .ok_or_else(|| Error::Internal(format!("the counter {attribute} returned no number")))
}

/// An Update of a parent's child counters by `children` and `done` (each may be 0 or
/// negative). With `usable`, only if the parent can take a child now (it exists and is not
/// being deleted); otherwise only if it exists.
fn parent_counts(
    table: &str,
    parent: u64,
    children: i64,
    done: i64,
    usable: bool,
) -> Result<TransactWriteItem> {
    let update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(table)
        .key("id", AttributeValue::N(parent.to_string()))
        .update_expression(
            "SET childCount = if_not_exists(childCount, :zero) + :children, \
             doneChildCount = if_not_exists(doneChildCount, :zero) + :done",
        )
        .condition_expression(if usable {
            USABLE_PARENT
        } else {
            "attribute_exists(id)"
        })
        .expression_attribute_values(":zero", AttributeValue::N("0".into()))
        .expression_attribute_values(":children", AttributeValue::N(children.to_string()))
        .expression_attribute_values(":done", AttributeValue::N(done.to_string()))
        .build()
        .map_err(|error| Error::Internal(error.to_string()))?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// How a change to a story moves its parents' counters: `(parent, children, done, usable)` for
/// each parent whose counters change; the new parent must be usable.
fn counter_moves(current: &Story, changes: &StoryChanges) -> Vec<(u64, i64, i64, bool)> {
    let new_parent = changes.parent_id.unwrap_or(current.parent_id);
    let was_done = i64::from(current.status == StoryStatus::Done);
    let will_done = i64::from(changes.status.unwrap_or(current.status) == StoryStatus::Done);
    let mut moves = Vec::new();
    if new_parent != current.parent_id {
        if let Some(old) = current.parent_id {
            moves.push((old, -1, -was_done, false));
        }
        if let Some(new) = new_parent {
            moves.push((new, 1, will_done, true));
        }
    } else if let Some(parent) = current.parent_id
        && was_done != will_done
    {
        moves.push((parent, 0, will_done - was_done, false));
    }
    moves
}

/// Which items of a cancelled transaction failed their condition; `None` when the transaction
/// failed for another reason.
pub(crate) fn failed_conditions<R: std::fmt::Debug>(
    error: &SdkError<TransactWriteItemsError, R>,
) -> Option<Vec<bool>> {
    let SdkError::ServiceError(context) = error else {
        return None;
    };
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = context.err() else {
        return None;
    };
    Some(
        cancelled
            .cancellation_reasons()
            .iter()
            .map(|reason| reason.code() == Some("ConditionalCheckFailed"))
            .collect(),
    )
}

enum PutOutcome {
    Stored,
    IdTaken,
    ParentMissing(u64),
}

/// The `rootOf` value of a root story: its project's ordinal, the high half of its id.
fn root_of(id: u64) -> AttributeValue {
    AttributeValue::N((id >> 32).to_string())
}

pub(crate) fn story_key(id: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([("id".to_owned(), AttributeValue::N(id.to_string()))])
}

fn number_attribute(key: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    key.get(name)?.as_n().ok()?.parse().ok()
}

fn cursor_from_key(key: &HashMap<String, AttributeValue>) -> Result<Cursor> {
    Ok(Cursor {
        id: number_attribute(key, "id")
            .ok_or_else(|| Error::Internal("a page key without a numeric id".into()))?,
        parent_id: number_attribute(key, "parentId"),
        root_of: number_attribute(key, ROOT_ATTRIBUTE)
            .and_then(|ordinal| u32::try_from(ordinal).ok()),
    })
}

/// The update expression for a PATCH: the changed fields, a version bump, and the guard.
fn story_update_expression(
    id: u64,
    changes: &StoryChanges,
    guard: &UpdateGuard,
    now: DateTime<Utc>,
) -> Result<UpdateExpression> {
    let mut expression = UpdateExpression::new();
    macro_rules! set_fields {
        ($($field:ident => $attribute:literal),*) => {$(
            if let Some(value) = &changes.$field {
                expression.set($attribute, value)?;
            }
        )*};
    }
    macro_rules! set_or_remove_fields {
        ($($field:ident => $attribute:literal),*) => {$(
            if let Some(value) = &changes.$field {
                expression.set_or_remove($attribute, value)?;
            }
        )*};
    }
    set_fields!(
        title => "title", as_a => "asA", i_want => "iWant", so_that => "soThat",
        description => "description", components => "components", status => "status",
        accept_warnings => "acceptWarnings", updated_by => "updatedBy", merge => "merge",
        documents => "documents"
    );
    set_or_remove_fields!(
        story_point => "storyPoint", assignee_email => "assigneeEmail",
        parent_id => "parentId", blocked_from => "blockedFrom"
    );
    // A story moved to the top level joins the root index; one given a parent leaves it.
    match changes.parent_id {
        Some(None) => {
            expression.set(ROOT_ATTRIBUTE, &(id >> 32))?;
        }
        Some(Some(_)) => {
            expression.set_or_remove::<u32>(ROOT_ATTRIBUTE, &None)?;
        }
        None => {}
    }
    expression.set("updatedAt", &now)?;
    expression.increment("version");
    expression.require_exists("id");
    if let Some(version) = guard.version {
        expression.require_equals("version", &version)?;
    }
    if let Some(status) = guard.status {
        expression.require_equals("status", &status)?;
    }
    Ok(expression)
}

impl DynamoStoryRepository {
    /// After a failed condition: was the story gone, or changed by someone else?
    async fn conflict_or_missing(&self, id: u64) -> Result<UpdateOutcome> {
        Ok(match self.get(id).await? {
            Some(_) => UpdateOutcome::Conflict,
            None => UpdateOutcome::NotFound,
        })
    }

    /// A change of status or parent: the story, read first, and the counters of the parents it
    /// leaves, joins or finishes under, in one transaction pinned to the version read (a
    /// concurrent change makes it a conflict, which the caller retries or reports).
    async fn update_counted(
        &self,
        id: u64,
        changes: &StoryChanges,
        guard: &UpdateGuard,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome> {
        let Some(current) = self.get_consistent(id).await? else {
            return Ok(UpdateOutcome::NotFound);
        };
        if guard
            .version
            .is_some_and(|version| version != current.version)
            || guard.status.is_some_and(|status| status != current.status)
        {
            return Ok(UpdateOutcome::Conflict);
        }
        let pinned = UpdateGuard {
            version: Some(current.version),
            status: guard.status,
        };
        let expression = story_update_expression(id, changes, &pinned, now)?;
        let moves = counter_moves(&current, changes);
        let mut transaction = self.client.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .update(expression.transaction_update(&self.table, story_key(id))?)
                .build(),
        );
        for (parent, children, done, usable) in &moves {
            transaction = transaction.transact_items(parent_counts(
                &self.table,
                *parent,
                *children,
                *done,
                *usable,
            )?);
        }
        // Last, so the indexes of the conditions above stay what the error handling reads.
        let mut after = changes.apply_to(&current);
        after.version = current.version + 1;
        let entry = HistoryEntry::story_changed(&current, &after, &changes.history_note(), now);
        if let Some(put) = self.history_put(entry.as_ref())? {
            transaction = transaction.transact_items(put);
        }
        match transaction.send().await {
            // Written pinned to the version read, so the story now is exactly that one with
            // the changes: no second read.
            Ok(_) => {
                after.updated_at = now;
                Ok(UpdateOutcome::Updated(Box::new(after)))
            }
            Err(error) => {
                let Some(failed) = failed_conditions(&error) else {
                    return Err(sdk_error(STORIES, error));
                };
                if failed.first() == Some(&true) {
                    return self.conflict_or_missing(id).await;
                }
                // A new parent that cannot take children is the caller's error; an old one
                // that changed is a race to retry.
                for ((parent, _, _, usable), failed) in moves.iter().zip(failed.iter().skip(1)) {
                    if *failed && *usable {
                        return Err(Error::ParentNotFound { id: *parent });
                    }
                }
                Ok(UpdateOutcome::Conflict)
            }
        }
    }

    /// An update read first and written in one transaction with its counters and its history
    /// entry (which needs the values before). Without a guard, a conflict only means someone
    /// else's write landed first: it is read again and applied, as a plain UpdateItem would
    /// have been.
    async fn update_recorded(
        &self,
        id: u64,
        changes: &StoryChanges,
        guard: &UpdateGuard,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome> {
        let unguarded = guard.version.is_none() && guard.status.is_none();
        for attempt in 0..UNGUARDED_ATTEMPTS {
            // Stamped when read, so that an entry written after a lost race is not dated
            // before the one that won it.
            let now = now.max(Utc::now());
            match self.update_counted(id, changes, guard, now).await? {
                UpdateOutcome::Conflict if unguarded => {
                    // A little jitter, so racing writers do not collide in lockstep.
                    let spread = 1 + 2 * u64::try_from(attempt).unwrap_or(0);
                    let wait = u64::try_from(uuid::Uuid::new_v4().as_u128() % u128::from(spread))
                        .unwrap_or(0);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
                outcome => return Ok(outcome),
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    /// Deletes the story item alone: it has no parent whose counters it is in.
    async fn delete_uncounted(&self, id: u64) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(story_key(id)))
            .send()
            .await
            .map_err(|error| sdk_error(STORIES, error))?;
        Ok(())
    }

    async fn get_consistent(&self, id: u64) -> Result<Option<Story>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::N(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(STORIES, error))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|error| Error::Internal(format!("reading story {id}: {error}")))
            })
            .transpose()
    }
}

impl StoryRepository for DynamoStoryRepository {
    async fn create(
        &self,
        numbering: StoryNumbering,
        story: NewStory,
        now: DateTime<Utc>,
    ) -> Result<Story> {
        for _ in 0..ID_ATTEMPTS {
            let id = self.allocate_id(numbering).await?;
            let author = story.created_by.clone();
            let stored = story.clone().into_story(id, now);
            match self.put_new(&stored, author.as_ref()).await? {
                PutOutcome::Stored => return Ok(stored),
                PutOutcome::ParentMissing(parent) => {
                    return Err(Error::ParentNotFound { id: parent });
                }
                PutOutcome::IdTaken => {
                    tracing::warn!(id, "story id already taken; allocating another");
                }
            }
        }
        Err(Error::Internal(
            "could not allocate a free story id; the id counter is behind the table".into(),
        ))
    }

    async fn get(&self, id: u64) -> Result<Option<Story>> {
        if StoryNumbering::number(id) == 0 {
            // A project's counter, not a story.
            return Ok(None);
        }
        // Strongly consistent: a client reading its own write must see it.
        self.get_consistent(id).await
    }

    async fn list(&self, query: &StoryListQuery) -> Result<Page<Story>> {
        let mut stories: Vec<Story> = Vec::new();
        let mut bytes = 0;
        let mut after = query.after;
        for _ in 0..LIST_ROUNDS {
            // One item more than the page needs: a Scan meets the id counter, which the filter
            // drops, and without room for it such a page would take a second read.
            let (items, next) = self
                .read_once(query, query.limit - stories.len() + 1, after.as_ref())
                .await?;
            after = next;
            for item in items {
                if stories.len() == query.limit {
                    // The extra item, left unread: the next page starts at it.
                    after = stories.last().map(|last| query.cursor_after(last.id));
                    break;
                }
                let story: Story = serde_dynamo::from_item(item)
                    .map_err(|error| Error::Internal(format!("reading a story: {error}")))?;
                bytes += serde_json::to_vec(&story).map_or(0, |json| json.len());
                let cursor = query.cursor_after(story.id);
                stories.push(story);
                if bytes >= PAGE_BYTE_BUDGET && stories.len() < query.limit {
                    return Ok(Page {
                        items: stories,
                        next: Some(cursor),
                    });
                }
            }
            if after.is_none() || stories.len() >= query.limit {
                break;
            }
        }
        Ok(Page {
            items: stories,
            next: after,
        })
    }

    async fn children(&self, id: u64) -> Result<Vec<StorySummary>> {
        let mut children = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(PARENT_INDEX)
                .key_condition_expression("parentId = :parent")
                .expression_attribute_values(":parent", AttributeValue::N(id.to_string()))
                .projection_expression("id, title, #status")
                .expression_attribute_names("#status", "status")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| sdk_error(STORIES, error))?;
            for item in output.items.unwrap_or_default() {
                children.push(
                    serde_dynamo::from_item(item)
                        .map_err(|error| Error::Internal(format!("reading a child: {error}")))?,
                );
            }
            start = output.last_evaluated_key;
            if start.is_none() || children.len() >= MAX_CHILDREN {
                children.truncate(MAX_CHILDREN);
                return Ok(children);
            }
        }
    }

    async fn update(
        &self,
        id: u64,
        changes: &StoryChanges,
        guard: &UpdateGuard,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome> {
        if changes.status.is_some() || changes.parent_id.is_some() || self.history.is_some() {
            return self.update_recorded(id, changes, guard, now).await;
        }
        let expression = story_update_expression(id, changes, guard, now)?;
        let result = expression
            .update_item(&self.client, &self.table, story_key(id))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                let story = serde_dynamo::from_item(item)
                    .map_err(|error| Error::Internal(format!("reading story {id}: {error}")))?;
                Ok(UpdateOutcome::Updated(Box::new(story)))
            }
            Err(SdkError::ServiceError(context))
                if matches!(
                    context.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                self.conflict_or_missing(id).await
            }
            Err(error) => Err(sdk_error(STORIES, error)),
        }
    }

    async fn mark_deleting(&self, id: u64) -> Result<bool> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::N(id.to_string()))
            .update_expression("SET deleting = :yes")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await;
        super::condition_held(STORIES, result)
    }

    async fn record_ai_review(
        &self,
        id: u64,
        review: &crate::model::AiReview,
        for_hash: Option<&str>,
    ) -> Result<bool> {
        let mut expression = UpdateExpression::new();
        expression.set("aiReview", review)?;
        expression.require_exists("id");
        let mut request = expression.update_item(&self.client, &self.table, story_key(id));
        if let Some(hash) = for_hash {
            let condition = format!(
                "{} AND aiReview.contentHash = :forHash",
                expression.condition_expression().unwrap_or_default()
            );
            request = request
                .condition_expression(condition)
                .expression_attribute_values(":forHash", AttributeValue::S(hash.to_owned()));
        }
        super::condition_held(STORIES, request.send().await)
    }

    async fn unmark_deleting(&self, id: u64) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::N(id.to_string()))
            .update_expression("REMOVE deleting")
            .condition_expression("attribute_exists(id)")
            .send()
            .await;
        // A story that is gone has no mark to take off.
        super::condition_held(STORIES, result).map(|_| ())
    }

    async fn delete(&self, id: u64) -> Result<()> {
        for _ in 0..DELETE_ATTEMPTS {
            let Some(current) = self.get_consistent(id).await? else {
                return Ok(());
            };
            let Some(parent) = current.parent_id else {
                return self.delete_uncounted(id).await;
            };
            // The story as read goes, and its parent counts one child (and maybe one Done)
            // fewer; if it changed meanwhile, read again.
            let delete = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key("id", AttributeValue::N(id.to_string()))
                .condition_expression("version = :version")
                .expression_attribute_values(
                    ":version",
                    AttributeValue::N(current.version.to_string()),
                )
                .build()
                .map_err(|error| Error::Internal(error.to_string()))?;
            let done = i64::from(current.status == StoryStatus::Done);
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(delete).build())
                .transact_items(parent_counts(&self.table, parent, -1, -done, false)?)
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(error) => match failed_conditions(&error) {
                    Some(failed) if failed.first() == Some(&true) => continue,
                    Some(failed) if failed.get(1) == Some(&true) => {
                        // The parent is gone already (a subtree going away): nothing to count.
                        return self.delete_uncounted(id).await;
                    }
                    _ => return Err(sdk_error(STORIES, error)),
                },
            }
        }
        Err(Error::ConcurrentUpdate)
    }
}
