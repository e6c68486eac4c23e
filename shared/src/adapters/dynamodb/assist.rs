//! The AI table: answers kept by content hash (`cache#…`) and hourly allowances per caller and
//! feature (`rate#…`), both items that expire by TTL.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Timelike, Utc};

use crate::adapters::sdk_error;
use crate::error::Result;
use crate::ports::{Allowance, AssistLedger};

const TABLE: &str = "AI table";

#[derive(Debug, Clone)]
pub struct DynamoAssistLedger {
    client: Client,
    table: String,
}

impl DynamoAssistLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(pk: String) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_owned(), AttributeValue::S(pk))])
    }
}

impl AssistLedger for DynamoAssistLedger {
    async fn cached(&self, key: &str) -> Result<Option<serde_json::Value>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(format!("cache#{key}"))))
            .send()
            .await
            .map_err(|error| sdk_error(TABLE, error))?;
        let now = Utc::now().timestamp();
        Ok(output.item.and_then(|item| {
            // TTL deletes lazily: an expired item may still be read.
            let live = item
                .get("expiresAt")
                .and_then(|value| value.as_n().ok())
                .and_then(|text| text.parse::<i64>().ok())
                .is_some_and(|expires| expires > now);
            let text = item.get("answer")?.as_s().ok()?;
            live.then(|| serde_json::from_str(text).ok()).flatten()
        }))
    }

    async fn remember(
        &self,
        key: &str,
        value: &serde_json::Value,
        ttl: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let expires = now + Duration::from_std(ttl).unwrap_or(Duration::hours(24));
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("cache#{key}")))
            .item("answer", AttributeValue::S(value.to_string()))
            .item(
                "expiresAt",
                AttributeValue::N(expires.timestamp().to_string()),
            )
            .send()
            .await
            .map_err(|error| sdk_error(TABLE, error))?;
        Ok(())
    }

    async fn take_allowance(
        &self,
        caller: &str,
        operation: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Allowance> {
        let hour = now.format("%Y%m%d%H");
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(format!("rate#{caller}#{operation}#{hour}"))))
            .update_expression("ADD #n :one SET expiresAt = :expires")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", "n")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((now + Duration::hours(2)).timestamp().to_string()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Allowance::Granted),
            Err(SdkError::ServiceError(context))
                if context.err().is_conditional_check_failed_exception() =>
            {
                let into_hour = u64::from(now.minute()) * 60 + u64::from(now.second());
                Ok(Allowance::Exhausted {
                    retry_after_seconds: 3_600u64.saturating_sub(into_hour).max(1),
                })
            }
            Err(error) => Err(sdk_error(TABLE, error)),
        }
    }
}
