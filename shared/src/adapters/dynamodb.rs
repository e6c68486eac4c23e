//! DynamoDB adapters. Items are (de)serialized with serde_dynamo from the same model types the
//! API uses, so an attribute has one name in JSON and in the table.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::sdk_error;
use crate::error::{Error, Result};
use crate::model::{NewStory, Story};
use crate::pagination::{Cursor, PAGE_BYTE_BUDGET, Page, StoryListQuery};
use crate::ports::StoryRepository;

const STORIES: &str = "stories table";
/// The global secondary index on `parentId` declared in template.yaml.
pub const PARENT_INDEX: &str = "parentId-index";
/// Story ids come from an atomic counter kept in the stories table under this reserved id.
const COUNTER_ID: &str = "0";
const COUNTER_ATTRIBUTE: &str = "lastStoryId";
/// An id collision can only follow a counter reset or restore; a few fresh ids settle it.
const ID_ATTEMPTS: usize = 5;
/// Reads a filtered listing may spend looking for matches before returning a short page.
const LIST_ROUNDS: usize = 8;

#[derive(Debug, Clone)]
pub struct DynamoStoryRepository {
    client: Client,
    table: String,
}

impl DynamoStoryRepository {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn allocate_id(&self) -> Result<u64> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::N(COUNTER_ID.into()))
            .update_expression("ADD #last :one")
            .expression_attribute_names("#last", COUNTER_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|error| sdk_error(STORIES, error))?;
        output
            .attributes()
            .and_then(|attributes| attributes.get(COUNTER_ATTRIBUTE))
            .and_then(|value| value.as_n().ok())
            .and_then(|number| number.parse().ok())
            .ok_or_else(|| Error::Internal("the story id counter returned no number".into()))
    }

    /// Writes the story only if its id is free and, for a child, only if the parent exists at
    /// that instant: a transaction, so a concurrent delete cannot leave an orphan behind.
    async fn put_new(&self, story: &Story) -> Result<PutOutcome> {
        let item = serde_dynamo::to_item(story)
            .map_err(|error| Error::Internal(format!("serializing story: {error}")))?;
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
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .key("id", AttributeValue::N(parent.to_string()))
                .condition_expression("attribute_exists(id)")
                .build()
                .map_err(|error| Error::Internal(error.to_string()))?;
            transaction = transaction
                .transact_items(TransactWriteItem::builder().condition_check(check).build());
        }
        match transaction.send().await {
            Ok(_) => Ok(PutOutcome::Stored),
            Err(SdkError::ServiceError(context))
                if matches!(
                    context.err(),
                    TransactWriteItemsError::TransactionCanceledException(_)
                ) =>
            {
                let TransactWriteItemsError::TransactionCanceledException(cancelled) =
                    context.err()
                else {
                    unreachable!("matched above")
                };
                let failed = |index: usize| {
                    cancelled
                        .cancellation_reasons()
                        .get(index)
                        .and_then(|reason| reason.code())
                        == Some("ConditionalCheckFailed")
                };
                if let Some(parent) = story.parent_id.filter(|_| failed(1)) {
                    Ok(PutOutcome::ParentMissing(parent))
                } else if failed(0) {
                    Ok(PutOutcome::IdTaken)
                } else {
                    Err(Error::DependencyUnavailable {
                        dependency: STORIES,
                        message: format!(
                            "transaction cancelled: {}",
                            cancelled.message().unwrap_or("no reason given")
                        ),
                    })
                }
            }
            Err(error) => Err(sdk_error(STORIES, error)),
        }
    }

    fn start_key(&self, cursor: &Cursor) -> HashMap<String, AttributeValue> {
        let mut key = HashMap::from([("id".to_owned(), AttributeValue::N(cursor.id.to_string()))]);
        if let Some(parent) = cursor.parent_id {
            key.insert("parentId".to_owned(), AttributeValue::N(parent.to_string()));
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
        let status = query
            .status
            .map(|status| AttributeValue::S(status.as_str().to_owned()));
        let (items, last_key) = match query.parent_id {
            Some(parent) => {
                let mut request = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(PARENT_INDEX)
                    .key_condition_expression("parentId = :parent")
                    .expression_attribute_values(":parent", AttributeValue::N(parent.to_string()))
                    .limit(limit)
                    .set_exclusive_start_key(start);
                if let Some(status) = status {
                    request = request
                        .filter_expression("#status = :status")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":status", status);
                }
                let output = request
                    .send()
                    .await
                    .map_err(|error| sdk_error(STORIES, error))?;
                (output.items, output.last_evaluated_key)
            }
            None => {
                // The id counter lives at id 0; every real story has a positive id.
                let mut request = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .filter_expression("id > :counter")
                    .expression_attribute_values(":counter", AttributeValue::N(COUNTER_ID.into()))
                    .limit(limit)
                    .set_exclusive_start_key(start);
                if let Some(status) = status {
                    request = request
                        .filter_expression("id > :counter AND #status = :status")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":status", status);
                }
                let output = request
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

enum PutOutcome {
    Stored,
    IdTaken,
    ParentMissing(u64),
}

fn number_attribute(key: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    key.get(name)?.as_n().ok()?.parse().ok()
}

fn cursor_from_key(key: &HashMap<String, AttributeValue>) -> Result<Cursor> {
    Ok(Cursor {
        id: number_attribute(key, "id")
            .ok_or_else(|| Error::Internal("a page key without a numeric id".into()))?,
        parent_id: number_attribute(key, "parentId"),
    })
}

impl StoryRepository for DynamoStoryRepository {
    async fn create(&self, story: NewStory, now: DateTime<Utc>) -> Result<Story> {
        for _ in 0..ID_ATTEMPTS {
            let id = self.allocate_id().await?;
            let stored = story.clone().into_story(id, now);
            match self.put_new(&stored).await? {
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
        if id == 0 {
            return Ok(None);
        }
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::N(id.to_string()))
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

    async fn list(&self, query: &StoryListQuery) -> Result<Page<Story>> {
        let mut stories = Vec::new();
        let mut bytes = 0;
        let mut after = query.after;
        for _ in 0..LIST_ROUNDS {
            let (items, next) = self
                .read_once(query, query.limit - stories.len(), after.as_ref())
                .await?;
            after = next;
            for item in items {
                let story: Story = serde_dynamo::from_item(item)
                    .map_err(|error| Error::Internal(format!("reading a story: {error}")))?;
                bytes += serde_json::to_vec(&story).map_or(0, |json| json.len());
                let cursor = Cursor {
                    id: story.id,
                    parent_id: query.parent_id,
                };
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
}

/// Whether a table answers DescribeTable and is usable.
pub async fn check_table(client: &Client, table: &str) -> std::result::Result<(), String> {
    let output = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|error| short_reason(&error))?;
    match output.table().and_then(|table| table.table_status()) {
        Some(status) if status.as_str() == "ACTIVE" || status.as_str() == "UPDATING" => Ok(()),
        Some(status) => Err(format!("table status {}", status.as_str())),
        None => Err("no table status".into()),
    }
}

/// A one-word cause for health reports: enough to act on, nothing internal.
pub(crate) fn short_reason<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> String {
    match error {
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(_) => "unreachable".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        SdkError::ServiceError(context) => context.err().code().unwrap_or("service error").into(),
        _ => "request failed".into(),
    }
}
