//! EventBridge: AIPM's events (`source: aipm`) on the stage's event bus, for teams to route to
//! mail or chat. A failure to publish is logged and counted, never returned.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::ports::EventPublisher;

pub const SOURCE: &str = "aipm";

#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, detail_type: &'static str, detail: serde_json::Value) {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(detail_type)
            .detail(detail.to_string())
            .build();
        match self.client.put_events().entries(entry).send().await {
            Ok(output) if output.failed_entry_count() == 0 => {
                tracing::info!(detail_type, "event published");
            }
            Ok(output) => {
                let code = output
                    .entries()
                    .first()
                    .and_then(|entry| entry.error_code())
                    .unwrap_or("unknown");
                tracing::warn!(detail_type, code, "event not accepted");
            }
            Err(error) => {
                tracing::warn!(detail_type, error = %aws_sdk_eventbridge::error::DisplayErrorContext(&error), "event not published");
            }
        }
    }
}
