//! The local stand-in for Lambda's SQS event source mapping: long-polls a queue and hands each
//! message to its consumer function as an SQS event; deletes it when the function did not list
//! it in `batchItemFailures`, and lets it come back after a short delay otherwise.

use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::config::{BehaviorVersion, Region};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{Value, json};

/// How soon a failed message is delivered again locally (Lambda waits out the visibility time).
const RETRY_AFTER: i32 = 5;

/// An SQS client for the emulator the functions' settings point at, if they name one.
pub fn client_for(environment: &[(String, String)]) -> Option<(aws_sdk_sqs::Client, String)> {
    let access = crate::EmulatorAccess::from_settings(environment)?;
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(aipm::runtime::aws_https_client())
        .endpoint_url(access.endpoint)
        .region(Region::new(access.region.clone()))
        .credentials_provider(access.credentials)
        .build();
    Some((aws_sdk_sqs::Client::from_conf(config), access.region))
}

/// Feeds `queue_url` to `invoke` (which answers the function's response body, or `None` when the
/// function failed) until the task is aborted.
pub async fn feed<F, Fut>(client: aws_sdk_sqs::Client, region: String, queue_url: String, invoke: F)
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Option<Value>>,
{
    let queue_name = queue_url.rsplit('/').next().unwrap_or_default().to_owned();
    loop {
        let received = client
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(1)
            .wait_time_seconds(2)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(_) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for message in messages {
            let (Some(id), Some(receipt)) = (message.message_id(), message.receipt_handle()) else {
                continue;
            };
            let attributes: serde_json::Map<String, Value> = message
                .attributes()
                .map(|attributes| {
                    attributes
                        .iter()
                        .map(|(name, value)| (name.as_str().to_owned(), json!(value)))
                        .collect()
                })
                .unwrap_or_default();
            let event = json!({"Records": [{
                "messageId": id, "receiptHandle": receipt, "body": message.body().unwrap_or_default(),
                "attributes": attributes, "messageAttributes": {},
                "md5OfBody": message.md5_of_body().unwrap_or_default(),
                "eventSource": "aws:sqs", "awsRegion": region,
                "eventSourceARN": format!("arn:aws:sqs:{region}:000000000000:{queue_name}"),
            }]});
            let failed = match invoke(event).await {
                Some(answer) => answer["batchItemFailures"]
                    .as_array()
                    .is_some_and(|failures| !failures.is_empty()),
                None => true,
            };
            let settled = if failed {
                client
                    .change_message_visibility()
                    .queue_url(&queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(RETRY_AFTER)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            } else {
                client
                    .delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            };
            if let Err(error) = settled {
                println!("{queue_name}: could not settle a message: {error}");
            }
        }
    }
}
