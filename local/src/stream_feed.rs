//! The local stand-in for Lambda's DynamoDB Streams event source mapping: reads a table's stream
//! in the emulator, keeps the inserts whose `pk` starts with the filter's prefix (the template's
//! `FilterCriteria`), hands them to the consumer as a stream event, and sends again from the
//! first record the consumer listed in `batchItemFailures` (up to 3 retries, as the template's
//! `MaximumRetryAttempts`).

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::config::{BehaviorVersion, Region};
use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, Record, ShardIteratorType};
use base64::Engine;
use serde_json::{Value, json};

/// How often an empty stream is read again: well inside the one second a change may take to
/// reach the pages.
const POLL_EVERY: Duration = Duration::from_millis(50);
const RETRIES: usize = 3;

/// A streams client for the emulator the functions' settings point at, if they name one.
pub fn client_for(environment: &[(String, String)]) -> Option<Client> {
    let access = crate::EmulatorAccess::from_settings(environment)?;
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(aipm::runtime::aws_https_client())
        .endpoint_url(access.endpoint)
        .region(Region::new(access.region))
        .credentials_provider(access.credentials)
        .build();
    Some(Client::from_conf(config))
}

/// An attribute in the DynamoDB JSON a Lambda stream event carries.
fn attribute_json(value: &AttributeValue) -> Value {
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match value {
        AttributeValue::S(text) => json!({ "S": text }),
        AttributeValue::N(number) => json!({ "N": number }),
        AttributeValue::B(blob) => json!({ "B": base64(blob.as_ref()) }),
        AttributeValue::Ss(texts) => json!({ "SS": texts }),
        AttributeValue::Ns(numbers) => json!({ "NS": numbers }),
        AttributeValue::Bs(blobs) => {
            json!({ "BS": blobs.iter().map(|blob| base64(blob.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::M(map) => json!({ "M": image_json(map) }),
        AttributeValue::L(list) => {
            json!({ "L": list.iter().map(attribute_json).collect::<Vec<_>>() })
        }
        AttributeValue::Null(null) => json!({ "NULL": *null }),
        AttributeValue::Bool(flag) => json!({ "BOOL": flag }),
        _ => Value::Null,
    }
}

fn image_json(image: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        image
            .iter()
            .map(|(name, value)| (name.clone(), attribute_json(value)))
            .collect(),
    )
}

/// The record as Lambda hands it to the consumer, if the filter lets it through.
fn lambda_record(record: &Record, stream_arn: &str, key_prefix: &str) -> Option<Value> {
    if record.event_name() != Some(&OperationType::Insert) {
        return None;
    }
    let change = record.dynamodb()?;
    let pk = change.keys().and_then(|keys| keys.get("pk"))?;
    if !matches!(pk, AttributeValue::S(text) if text.starts_with(key_prefix)) {
        return None;
    }
    Some(json!({
        "eventID": record.event_id(),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": stream_arn,
        "awsRegion": record.aws_region(),
        "dynamodb": {
            "Keys": change.keys().map(image_json),
            "NewImage": change.new_image().map(image_json),
            "SequenceNumber": change.sequence_number(),
            "StreamViewType": "NEW_IMAGE",
        },
    }))
}

/// The stream of `table`, once the emulator has one.
async fn stream_of(client: &Client, table: &str) -> String {
    loop {
        if let Ok(listed) = client.list_streams().table_name(table).send().await
            && let Some(arn) = listed
                .streams()
                .iter()
                .find_map(|stream| stream.stream_arn())
        {
            return arn.to_owned();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Feeds `table`'s stream to `invoke` (which answers the consumer's response, or `None` when it
/// failed) until the task is aborted. Starts at the stream's end: what was written before the
/// gateway started is not sent, as a new event source mapping starting at LATEST would not.
pub async fn feed<F, Fut>(client: Client, table: String, key_prefix: String, invoke: F)
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Option<Value>>,
{
    let stream_arn = stream_of(&client, &table).await;
    let mut iterators: Vec<(String, Option<String>)> = Vec::new();
    loop {
        // Shards come and go (the emulator has one per table); pick up new ones at their end.
        if iterators.is_empty()
            && let Ok(described) = client
                .describe_stream()
                .stream_arn(&stream_arn)
                .send()
                .await
        {
            for shard in described
                .stream_description()
                .map(|description| description.shards())
                .unwrap_or_default()
            {
                let Some(shard_id) = shard.shard_id() else {
                    continue;
                };
                if let Ok(start) = client
                    .get_shard_iterator()
                    .stream_arn(&stream_arn)
                    .shard_id(shard_id)
                    .shard_iterator_type(ShardIteratorType::Latest)
                    .send()
                    .await
                {
                    iterators.push((shard_id.to_owned(), start.shard_iterator));
                }
            }
        }
        let mut quiet = true;
        for (_, iterator) in &mut iterators {
            let Some(current) = iterator.clone() else {
                continue;
            };
            let Ok(read) = client.get_records().shard_iterator(&current).send().await else {
                continue;
            };
            *iterator = read.next_shard_iterator().map(str::to_owned);
            let records: Vec<Value> = read
                .records()
                .iter()
                .filter_map(|record| lambda_record(record, &stream_arn, &key_prefix))
                .collect();
            if records.is_empty() {
                continue;
            }
            quiet = false;
            deliver(records, &invoke).await;
        }
        iterators.retain(|(_, iterator)| iterator.is_some());
        if quiet {
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// Hands `records` over; what the consumer lists as failed is handed over again from the first
/// failed record on, up to [`RETRIES`] times, then dropped as Lambda drops it.
async fn deliver<F, Fut>(mut records: Vec<Value>, invoke: &F)
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Option<Value>>,
{
    for _ in 0..=RETRIES {
        let answer = invoke(json!({ "Records": records })).await;
        let first_failed = match &answer {
            None => Some(0),
            Some(answer) => answer["batchItemFailures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|failure| failure["itemIdentifier"].as_str())
                .filter_map(|sequence| {
                    records
                        .iter()
                        .position(|record| record["dynamodb"]["SequenceNumber"] == sequence)
                })
                .min(),
        };
        let Some(first_failed) = first_failed else {
            return;
        };
        records.drain(..first_failed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn records(count: usize) -> Vec<Value> {
        (0..count)
            .map(|n| json!({ "dynamodb": { "SequenceNumber": n.to_string() } }))
            .collect()
    }

    fn sequences(event: &Value) -> Vec<String> {
        event["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| {
                record["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    /// A consumer that crashes mid-batch gets the whole batch again; one that reports a failed
    /// record gets it and everything after it again; nothing before it twice.
    #[tokio::test]
    async fn a_failed_batch_comes_again_from_its_first_failed_record() {
        let seen = Mutex::new(Vec::new());
        let answers = Mutex::new(vec![
            None,
            Some(json!({ "batchItemFailures": [{ "itemIdentifier": "2" }] })),
            Some(json!({ "batchItemFailures": [] })),
        ]);
        deliver(records(4), &|event: Value| {
            seen.lock().unwrap().push(sequences(&event));
            let answer = answers.lock().unwrap().remove(0);
            async move { answer }
        })
        .await;
        assert_eq!(
            seen.into_inner().unwrap(),
            vec![
                vec!["0", "1", "2", "3"],
                vec!["0", "1", "2", "3"],
                vec!["2", "3"],
            ]
        );
    }

    /// A record that keeps failing is given up after the retries, as Lambda gives it up.
    #[tokio::test]
    async fn a_record_that_always_fails_is_tried_four_times() {
        let calls = Mutex::new(0);
        deliver(records(1), &|_| {
            *calls.lock().unwrap() += 1;
            async { None }
        })
        .await;
        assert_eq!(calls.into_inner().unwrap(), RETRIES + 1);
    }

    #[test]
    fn only_history_inserts_pass_the_filter() {
        use aws_sdk_dynamodbstreams::types::StreamRecord;
        let record = |event: OperationType, pk: &str| {
            Record::builder()
                .event_name(event)
                .dynamodb(
                    StreamRecord::builder()
                        .keys("pk", AttributeValue::S(pk.to_owned()))
                        .new_image("pk", AttributeValue::S(pk.to_owned()))
                        .new_image("n", AttributeValue::N("7".into()))
                        .sequence_number("1")
                        .build(),
                )
                .build()
        };
        let passed = lambda_record(
            &record(OperationType::Insert, "history#5"),
            "arn",
            "history#",
        )
        .expect("a history insert passes");
        assert_eq!(passed["dynamodb"]["NewImage"]["n"], json!({ "N": "7" }));
        assert_eq!(passed["eventSourceARN"], "arn");
        assert!(
            lambda_record(
                &record(OperationType::Modify, "history#5"),
                "arn",
                "history#"
            )
            .is_none()
        );
        assert!(
            lambda_record(
                &record(OperationType::Insert, "project#1"),
                "arn",
                "history#"
            )
            .is_none()
        );
    }
}
