//! SQS adapters: the code-task queue.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;

use super::dynamodb::short_reason;

/// Whether the queue answers GetQueueAttributes.
pub async fn check_queue(client: &Client, queue_url: &str) -> Result<(), String> {
    client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map(|_| ())
        .map_err(|error| short_reason(&error))
}
