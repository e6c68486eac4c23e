//! aipm-worker: the code-generation worker (EC2, systemd). SIGTERM stops it taking work;
//! SIGUSR1 drains it (the same, with the longer drain grace).

use std::sync::Arc;
use std::time::Duration;

use aipm::adapters::code_host::ConfiguredCodeHost;
use aipm::adapters::dynamodb::DynamoCodeTaskRepository;
use aipm_worker::config::WorkerConfig;
use aipm_worker::{Context, StopRequest, run};
use tokio::signal::unix::{SignalKind, signal};
use tracing::Instrument;

/// An SQS client whose time limits allow a long poll of `wait` (the shared defaults would cut
/// it off after 3 s).
fn long_polling_sqs(sdk: &aws_config::SdkConfig, wait: Duration) -> aws_sdk_sqs::Client {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(wait + Duration::from_secs(10))
        .operation_timeout(wait + Duration::from_secs(30))
        .build();
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build(),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    aipm::telemetry::init_logging();
    let config =
        WorkerConfig::from_env().inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    aipm::telemetry::init_metrics(&config.tables.stage);
    let process = aipm::telemetry::process_span("worker", &config.tables.stage);
    let sdk = aipm::runtime::load_sdk_config().await;
    let host = ConfiguredCodeHost::connect(&config.code_host, &sdk).await?;
    let sqs = long_polling_sqs(&sdk, config.queue_wait);
    let context = Arc::new(Context {
        tasks: DynamoCodeTaskRepository::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.tables.code_tasks_table.clone(),
            config.tables.stories_table.clone(),
        ),
        sqs,
        host,
        events: aipm::adapters::events::EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            config.tables.event_bus.clone(),
        ),
        config,
    });
    let stop = StopRequest::new();
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut drain = signal(SignalKind::user_defined1())?;
    let on_signal = stop.clone();
    let (shutdown_grace, drain_grace) = (context.config.shutdown_grace, context.config.drain_grace);
    tokio::spawn(async move {
        let grace = tokio::select! {
            _ = terminate.recv() => shutdown_grace,
            _ = interrupt.recv() => shutdown_grace,
            _ = drain.recv() => drain_grace,
        };
        on_signal.stop(grace);
    });
    run(context, stop).instrument(process).await;
    Ok(())
}
