//! live-broadcast: the projects table's stream of history entries, sent to the sockets of each
//! entry's project.

use std::sync::Arc;

use aipm::handlers::live::Broadcaster;
use aipm::runtime::{ColdStart, serve_events};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("live-broadcast").await?;
    let broadcaster = Arc::new(Broadcaster::new(
        cold_start.live_registry()?,
        cold_start.live_push()?,
        cold_start.records_gate()?,
    ));
    serve_events(&cold_start, move |event| {
        let broadcaster = Arc::clone(&broadcaster);
        async move {
            let records = event["Records"].as_array().cloned().unwrap_or_default();
            let failed = Box::pin(broadcaster.handle(&records)).await;
            let status = if failed.is_empty() { 200 } else { 500 };
            let failures: Vec<_> = failed
                .into_iter()
                .map(|sequence| serde_json::json!({ "itemIdentifier": sequence }))
                .collect();
            (serde_json::json!({ "batchItemFailures": failures }), status)
        }
    })
    .await
}
