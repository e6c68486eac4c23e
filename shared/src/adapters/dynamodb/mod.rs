//! DynamoDB adapters. Items are (de)serialized with serde_dynamo from the same model types the
//! API uses, so an attribute has one name in JSON and in the table.

pub mod acceptance_tests;
pub mod assist;
pub mod code_tasks;
pub mod leases;
pub mod projects;
pub mod stories;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

pub use acceptance_tests::DynamoAcceptanceTestRepository;
pub use code_tasks::DynamoCodeTaskRepository;
pub use projects::DynamoProjectDirectory;
pub use stories::{DynamoStoryRepository, PARENT_INDEX};

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
