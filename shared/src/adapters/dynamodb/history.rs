//! The change history in the projects table: one item per change, `pk = history#<story id>`
//! (or `history#project#<ordinal>` for a membership), `sk = <time>#<entry id>`, written as one
//! more Put in the transaction of the change itself; the sparse `historyOf-index` (the project's
//! ordinal + `sk`) is the project's feed.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::history::{HistoryCursor, HistoryEntry, story_partition};
use crate::ports::{HistoryLog, HistoryPage};

pub const FEED_INDEX: &str = "historyOf-index";
const FEED_ATTRIBUTE: &str = "historyOf";
const HISTORY: &str = "history";

/// The entry as an item of the projects table.
pub(crate) fn history_item(entry: &HistoryEntry) -> Result<HashMap<String, AttributeValue>> {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(entry)
        .map_err(|error| Error::Internal(format!("serializing a history entry: {error}")))?;
    item.insert("pk".into(), AttributeValue::S(entry.partition()));
    item.insert("sk".into(), AttributeValue::S(entry.sort_key()));
    item.insert(
        FEED_ATTRIBUTE.into(),
        AttributeValue::N(entry.project.to_string()),
    );
    Ok(item)
}

/// The Put that records `entry` inside the change's own transaction. An entry's key is new
/// (its id is random), so a retried transaction cannot record a change twice.
pub(crate) fn history_put(table: &str, entry: &HistoryEntry) -> Result<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(history_item(entry)?))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|error| Error::Internal(error.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The Put of `entry` for a change's transaction, when the adapter keeps history (`table`).
pub(crate) fn recorded_in(
    table: Option<&str>,
    entry: Option<&HistoryEntry>,
) -> Result<Option<TransactWriteItem>> {
    match (table, entry) {
        (Some(table), Some(entry)) => Ok(Some(history_put(table, entry)?)),
        _ => Ok(None),
    }
}

#[derive(Debug, Clone)]
pub struct DynamoHistory {
    client: Client,
    table: String,
}

impl DynamoHistory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn page(
        &self,
        request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: usize,
    ) -> Result<HistoryPage> {
        let limit = i32::try_from(limit.clamp(1, 200)).unwrap_or(50);
        let output = request
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|error| sdk_error(HISTORY, error))?;
        let entries: Vec<HistoryEntry> = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|error| Error::Internal(format!("reading a history entry: {error}")))
            })
            .collect::<Result<_>>()?;
        let next = output
            .last_evaluated_key
            .and_then(|_| entries.last().map(HistoryEntry::cursor));
        Ok(HistoryPage { entries, next })
    }
}

impl HistoryLog for DynamoHistory {
    async fn story_history(
        &self,
        story_id: u64,
        limit: usize,
        after: Option<&HistoryCursor>,
    ) -> Result<HistoryPage> {
        let pk = story_partition(story_id);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()));
        if let Some(after) = after.filter(|after| after.pk == pk) {
            request = request
                .exclusive_start_key("pk", AttributeValue::S(after.pk.clone()))
                .exclusive_start_key("sk", AttributeValue::S(after.sk.clone()));
        }
        self.page(request, limit).await
    }

    async fn project_feed(
        &self,
        project: u32,
        limit: usize,
        after: Option<&HistoryCursor>,
    ) -> Result<HistoryPage> {
        let ordinal = AttributeValue::N(project.to_string());
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(FEED_INDEX)
            .key_condition_expression("#of = :of")
            .expression_attribute_names("#of", FEED_ATTRIBUTE)
            .expression_attribute_values(":of", ordinal.clone());
        if let Some(after) = after {
            request = request
                .exclusive_start_key("pk", AttributeValue::S(after.pk.clone()))
                .exclusive_start_key("sk", AttributeValue::S(after.sk.clone()))
                .exclusive_start_key(FEED_ATTRIBUTE, ordinal);
        }
        self.page(request, limit).await
    }
}
