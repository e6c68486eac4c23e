//! DynamoDB adapters. Items are (de)serialized with serde_dynamo from the same model types the
//! API uses, so an attribute has one name in JSON and in the table.

pub mod acceptance_tests;
pub mod assist;
pub mod code_tasks;
pub mod evidence;
pub mod history;
pub mod leases;
pub mod links;
pub mod live;
pub mod projects;
pub mod stories;
pub mod trash;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

pub use acceptance_tests::DynamoAcceptanceTestRepository;
pub use code_tasks::DynamoCodeTaskRepository;
pub use evidence::DynamoTestEvidence;
pub use history::DynamoHistory;
pub use links::DynamoLinks;
pub use live::DynamoLiveRegistry;
pub use projects::DynamoProjectDirectory;
pub use stories::{DynamoStoryRepository, PARENT_INDEX};
pub use trash::DynamoTrash;

/// Whether a conditional UpdateItem landed: a condition that did not hold is `false`, not an
/// error; any other failure is sorted as every SDK failure is.
pub(crate) fn condition_held<O, R: std::fmt::Debug>(
    dependency: &'static str,
    result: std::result::Result<O, SdkError<UpdateItemError, R>>,
) -> crate::error::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(context))
            if context.err().is_conditional_check_failed_exception() =>
        {
            Ok(false)
        }
        Err(error) => Err(crate::adapters::sdk_error(dependency, error)),
    }
}

/// [`condition_held`] for a conditional PutItem.
pub(crate) fn put_condition_held<O, R: std::fmt::Debug>(
    dependency: &'static str,
    result: std::result::Result<O, SdkError<PutItemError, R>>,
) -> crate::error::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(SdkError::ServiceError(context))
            if context.err().is_conditional_check_failed_exception() =>
        {
            Ok(false)
        }
        Err(error) => Err(crate::adapters::sdk_error(dependency, error)),
    }
}

/// BatchWriteItem takes at most 25 requests.
const BATCH_SIZE: usize = 25;
/// Rounds of re-sending items DynamoDB left unprocessed before giving up with a 503.
const UNPROCESSED_ROUNDS: usize = 5;

/// Batches in flight at once: a large write (a CI report's results for thousands of keys) costs
/// a few round trips instead of one per 25 items.
const BATCHES_IN_FLIGHT: usize = 8;

/// Sends put or delete requests to `table` 25 at a time, a few batches at once, again while
/// DynamoDB leaves some unprocessed; 503 when some are still left after [`UNPROCESSED_ROUNDS`].
pub(crate) async fn batch_write(
    client: &Client,
    table: &str,
    mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    dependency: &'static str,
) -> crate::error::Result<()> {
    use futures::{StreamExt, TryStreamExt};
    for _ in 0..UNPROCESSED_ROUNDS {
        if requests.is_empty() {
            return Ok(());
        }
        let batches: Vec<Vec<aws_sdk_dynamodb::types::WriteRequest>> =
            requests.chunks(BATCH_SIZE).map(<[_]>::to_vec).collect();
        let left: Vec<Vec<aws_sdk_dynamodb::types::WriteRequest>> = futures::stream::iter(batches)
            .map(|batch| async move {
                let output = client
                    .batch_write_item()
                    .request_items(table, batch)
                    .send()
                    .await
                    .map_err(|error| crate::adapters::sdk_error(dependency, error))?;
                Ok::<_, crate::error::Error>(
                    output
                        .unprocessed_items
                        .and_then(|mut left| left.remove(table))
                        .unwrap_or_default(),
                )
            })
            .buffer_unordered(BATCHES_IN_FLIGHT)
            .try_collect()
            .await?;
        requests = left.into_iter().flatten().collect();
    }
    if requests.is_empty() {
        Ok(())
    } else {
        Err(crate::error::Error::DependencyUnavailable {
            dependency,
            message: format!("{} writes left unprocessed", requests.len()),
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
