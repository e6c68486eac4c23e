//! Adapters: the ports implemented by technology (DynamoDB, SQS, in memory).

pub mod code_host;
pub mod dynamodb;
pub mod events;
pub mod expression;
pub mod github;
pub mod github_app;
pub mod health;
pub mod https;
pub mod language_model;
pub mod live_push;
pub mod local_git;
pub mod memory;
pub mod memory_documents;
pub mod memory_evidence;
pub mod memory_live;
pub mod memory_projects;
pub mod s3;
pub mod sqs;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::Error;

/// Service error codes that mean "the dependency cannot serve us right now", not "our bug".
const UNAVAILABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

/// Sorts an AWS SDK failure into 503 (the dependency is down, slow or missing) or 500.
pub(crate) fn sdk_error<E, R>(dependency: &'static str, error: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let unavailable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(context) => context
            .err()
            .code()
            .is_some_and(|code| UNAVAILABLE_CODES.contains(&code)),
        _ => false,
    };
    let message = DisplayErrorContext(&error).to_string();
    if unavailable {
        Error::DependencyUnavailable {
            dependency,
            message,
        }
    } else {
        Error::Internal(format!("{dependency}: {message}"))
    }
}
