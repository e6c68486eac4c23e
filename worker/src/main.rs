//! aipm-worker: the code-generation worker (EC2, systemd). SIGTERM stops it taking work.

use std::sync::Arc;

use aipm::adapters::dynamodb::DynamoCodeTaskRepository;
use aipm::adapters::local_git::LocalGitHost;
use aipm::config::CodeHostConfig;
use aipm_worker::config::WorkerConfig;
use aipm_worker::{Context, run};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config =
        WorkerConfig::from_env().inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    let sdk = aipm::runtime::load_sdk_config().await;
    let host = match &config.code_host {
        CodeHostConfig::LocalGit {
            repository,
            default_branch,
        } => LocalGitHost::new(repository, default_branch),
        other => return Err(format!("code host {other:?} is not available in this build").into()),
    };
    let context = Arc::new(Context {
        tasks: DynamoCodeTaskRepository::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.tables.code_tasks_table.clone(),
            config.tables.stories_table.clone(),
        ),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        host,
        config,
    });
    let shutdown = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        on_signal.cancel();
    });
    run(context, shutdown).await;
    Ok(())
}
