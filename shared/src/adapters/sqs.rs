//! SQS adapters: the code-task queue.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;

use super::dynamodb::short_reason;
use super::sdk_error;
use crate::error::Result;
use crate::ports::{ReviewQueue, TaskQueue};

const QUEUE: &str = "code task queue";

/// Sends task ids to the worker's queue as `{"taskId": "…"}`.
#[derive(Debug, Clone)]
pub struct SqsTaskQueue {
    client: Client,
    queue_url: String,
}

impl SqsTaskQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl TaskQueue for SqsTaskQueue {
    async fn send(&self, task_id: &str) -> Result<()> {
        let body = serde_json::json!({ "taskId": task_id }).to_string();
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|error| sdk_error(QUEUE, error))?;
        Ok(())
    }
}

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

/// Sends AI review requests as `{"storyId": …, "contentHash": "…"}`.
#[derive(Debug, Clone)]
pub struct SqsReviewQueue {
    client: Client,
    queue_url: String,
}

impl SqsReviewQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl ReviewQueue for SqsReviewQueue {
    async fn send_review(&self, story_id: u64, content_hash: &str) -> Result<()> {
        let body = serde_json::json!({ "storyId": story_id, "contentHash": content_hash });
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body.to_string())
            .send()
            .await
            .map_err(|error| sdk_error("AI review queue", error))?;
        Ok(())
    }
}
