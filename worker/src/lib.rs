//! The code-generation worker: long-polls the code-task queue, claims each task under a lease,
//! runs the coding agent on its branch, and records the outcome. A reconciler re-sends tasks
//! whose worker died or whose queue message was lost.

pub mod agent;
pub mod config;
pub mod git;
pub mod isolation;
pub mod job;
pub mod presets;
pub mod revision;

use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use aipm::adapters::dynamodb::DynamoCodeTaskRepository;
use aipm::adapters::dynamodb::leases::{ClaimOutcome, FinishOutcome, HeartbeatOutcome, RunOutcome};
use aipm::model::{CodeTask, HandOffStage, TaskStatus};
use aipm::ports::{CodeHost, CodeTaskRepository, EventPublisher};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::WorkerConfig;
use crate::job::JobEnd;

/// How soon a message that arrived before its hand-off was recorded comes back.
const EARLY_DELIVERY_RETRY: Duration = Duration::from_secs(2);

/// What every job shares.
pub struct Context<H> {
    pub config: WorkerConfig,
    pub tasks: DynamoCodeTaskRepository,
    pub sqs: aws_sdk_sqs::Client,
    pub host: H,
    /// Where `aipm.task.finished` is announced.
    pub events: aipm::adapters::events::EventBridgePublisher,
}

pub enum Beat {
    Continue,
    Cancel,
    Lost,
}

fn lease(config: &WorkerConfig) -> chrono::Duration {
    chrono::Duration::from_std(config.lease).unwrap_or(chrono::Duration::seconds(120))
}

impl<H: CodeHost> Context<H> {
    /// Extends the task's lease and the message's visibility; reports a cancel or a lost lease.
    pub async fn heartbeat(&self, task: &CodeTask, receipt: &str) -> Beat {
        self.extend_visibility(receipt, self.config.lease).await;
        match self
            .tasks
            .heartbeat(
                &task.task_id,
                &self.config.worker_id,
                lease(&self.config),
                Utc::now(),
            )
            .await
        {
            Ok(HeartbeatOutcome::Continue) => Beat::Continue,
            Ok(HeartbeatOutcome::CancelRequested) => {
                tracing::info!(task_id = %task.task_id, "cancel requested; stopping the agent");
                Beat::Cancel
            }
            Ok(HeartbeatOutcome::LeaseLost) => {
                tracing::warn!(task_id = %task.task_id, "lease lost; another worker has the task");
                Beat::Lost
            }
            // A missed heartbeat is not fatal: the lease outlives several of them.
            Err(error) => {
                tracing::warn!(task_id = %task.task_id, %error, "heartbeat failed");
                Beat::Continue
            }
        }
    }

    async fn extend_visibility(&self, receipt: &str, by: Duration) {
        let seconds = i32::try_from(by.as_secs()).unwrap_or(i32::MAX);
        if let Err(error) = self
            .sqs
            .change_message_visibility()
            .queue_url(&self.config.tables.code_tasks_queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
        {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "could not change message visibility");
        }
    }

    /// Sends a task id to the queue; a failure is logged, and the reconciler sends it later.
    async fn send(&self, task_id: &str) -> bool {
        let body = serde_json::json!({ "taskId": task_id }).to_string();
        let sent = self
            .sqs
            .send_message()
            .queue_url(&self.config.tables.code_tasks_queue_url)
            .message_body(body)
            .send()
            .await;
        if let Err(error) = &sent {
            tracing::warn!(%task_id, error = %aws_sdk_sqs::error::DisplayErrorContext(error), "could not send a task; the reconciler sends it later");
        }
        sent.is_ok()
    }

    async fn delete(&self, receipt: &str) {
        if let Err(error) = self
            .sqs
            .delete_message()
            .queue_url(&self.config.tables.code_tasks_queue_url)
            .receipt_handle(receipt)
            .send()
            .await
        {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "could not delete a message");
        }
    }

    /// Handles one delivery of the queue, start to end.
    pub async fn process(&self, message: Message, hand_back: &CancellationToken) {
        let Some(receipt) = message.receipt_handle().map(str::to_owned) else {
            return;
        };
        let receives: u32 = message
            .attributes()
            .and_then(|attributes| {
                attributes.get(&MessageSystemAttributeName::ApproximateReceiveCount)
            })
            .and_then(|count| count.parse().ok())
            .unwrap_or(1);
        let task_id = message
            .body()
            .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
            .and_then(|value| {
                value
                    .get("taskId")
                    .and_then(|id| id.as_str())
                    .map(str::to_owned)
            });
        let Some(task_id) = task_id else {
            // Not ours to read: let SQS count the deliveries and move it to the dead-letter queue.
            tracing::error!(
                receives,
                "unparsable message; it goes to the dead-letter queue after repeated deliveries"
            );
            self.extend_visibility(&receipt, Duration::ZERO).await;
            return;
        };
        if receives > self.config.max_receives {
            self.give_up_on(&task_id, receives).await;
            self.extend_visibility(&receipt, Duration::ZERO).await;
            return;
        }
        let claim = self
            .tasks
            .claim(
                &task_id,
                &self.config.worker_id,
                lease(&self.config),
                Utc::now(),
            )
            .await;
        let task = match claim {
            Ok(ClaimOutcome::Claimed(task)) => *task,
            Ok(ClaimOutcome::Skip(reason)) => {
                tracing::info!(%task_id, reason, "nothing to do for this delivery");
                self.delete(&receipt).await;
                return;
            }
            Ok(ClaimOutcome::TryAgainShortly) => {
                // Deleting it would leave the task queued until the reconciler's next pass.
                tracing::info!(%task_id, "the hand-off is still being recorded; trying again shortly");
                self.extend_visibility(&receipt, EARLY_DELIVERY_RETRY).await;
                return;
            }
            Err(error) => {
                tracing::warn!(%task_id, %error, "could not claim; the message comes back later");
                return;
            }
        };
        tracing::info!(%task_id, attempt = task.attempt, "claimed");
        if task.attempt > self.config.max_attempts {
            let error = format!(
                "gave up after {} attempts; last error: {}",
                self.config.max_attempts,
                task.error
                    .as_deref()
                    .unwrap_or("the worker running it stopped")
            );
            self.record(
                &task,
                TaskStatus::Failed,
                RunOutcome {
                    error: Some(error),
                    log_tail: task.log_tail.clone(),
                    ..RunOutcome::default()
                },
            )
            .await;
            self.delete(&receipt).await;
            return;
        }
        let end = job::run(self, &task, &receipt, hand_back).await;
        self.settle(&task, &receipt, end).await;
    }

    async fn settle(&self, task: &CodeTask, receipt: &str, end: JobEnd) {
        match end {
            JobEnd::Succeeded {
                sha,
                files,
                log_tail,
                replies,
            } => {
                let outcome = RunOutcome {
                    commit_sha: Some(sha),
                    files_changed: Some(files),
                    log_tail,
                    error: None,
                    replies,
                };
                self.record(task, TaskStatus::Succeeded, outcome).await;
                self.delete(receipt).await;
            }
            JobEnd::Failed {
                error,
                retry,
                log_tail,
            } if retry && task.attempt < self.config.max_attempts => {
                tracing::warn!(task_id = %task.task_id, attempt = task.attempt, %error, "attempt failed; retrying later");
                let backoff =
                    self.config.retry_backoff * 2u32.saturating_pow(task.attempt.saturating_sub(1));
                match self
                    .tasks
                    .hand_back(
                        &task.task_id,
                        &self.config.worker_id,
                        &error,
                        log_tail.as_deref(),
                        Utc::now(),
                    )
                    .await
                {
                    Ok(_) => self.extend_visibility(receipt, backoff).await,
                    Err(error) => {
                        tracing::warn!(task_id = %task.task_id, %error, "could not hand the task back")
                    }
                }
            }
            JobEnd::Failed {
                error, log_tail, ..
            } => {
                self.record(
                    task,
                    TaskStatus::Failed,
                    RunOutcome {
                        error: Some(error),
                        log_tail,
                        ..RunOutcome::default()
                    },
                )
                .await;
                self.delete(receipt).await;
            }
            JobEnd::Cancelled { reason, log_tail } => {
                let outcome = RunOutcome {
                    error: Some(reason),
                    log_tail,
                    ..RunOutcome::default()
                };
                self.record(task, TaskStatus::Cancelled, outcome).await;
                self.delete(receipt).await;
            }
            JobEnd::TimedOut { log_tail } => {
                let error = format!(
                    "the agent ran past its limit of {}s",
                    self.config.agent_timeout.as_secs()
                );
                self.record(
                    task,
                    TaskStatus::TimedOut,
                    RunOutcome {
                        error: Some(error),
                        log_tail,
                        ..RunOutcome::default()
                    },
                )
                .await;
                self.delete(receipt).await;
            }
            JobEnd::LeaseLost => self.delete(receipt).await,
            JobEnd::HandedBack { log_tail } => {
                let _ = self
                    .tasks
                    .hand_back(
                        &task.task_id,
                        &self.config.worker_id,
                        "the worker shut down; handed back",
                        log_tail.as_deref(),
                        Utc::now(),
                    )
                    .await;
                self.extend_visibility(receipt, Duration::ZERO).await;
            }
        }
    }

    async fn record(&self, task: &CodeTask, status: TaskStatus, outcome: RunOutcome) {
        match self
            .tasks
            .finish(task, &self.config.worker_id, status, &outcome, Utc::now())
            .await
        {
            Ok(FinishOutcome::Finished { next }) => {
                tracing::info!(task_id = %task.task_id, status = status.as_str(), "task finished");
                let ran_for = task
                    .started_at
                    .and_then(|started| (Utc::now() - started).to_std().ok());
                aipm::telemetry::count_task_finished(status, ran_for);
                let detail = serde_json::json!({
                    "storyId": task.story_id,
                    "taskId": task.task_id,
                    "kind": task.kind,
                    "revision": task.revision,
                    "prNumber": task.pr_number,
                    "prUrl": task.pr_url,
                    "outcome": status.as_str(),
                    "commitSha": outcome.commit_sha,
                    "nextTaskId": next.as_ref().map(|next| next.task_id.clone()),
                });
                self.events.publish("aipm.task.finished", detail).await;
                if let Some(next) = next {
                    aipm::telemetry::count_task_created();
                    tracing::info!(task_id = %next.task_id, revision = next.revision, "reviews that arrived meanwhile start the next revision");
                    self.send(&next.task_id).await;
                }
                aipm::telemetry::flush_metrics(std::io::stdout());
            }
            Ok(FinishOutcome::NotHeld) => {
                tracing::warn!(task_id = %task.task_id, "task finished, but another worker holds it now")
            }
            Err(error) => {
                tracing::error!(task_id = %task.task_id, %error, "could not record the outcome; the lease will expire and the task run again")
            }
        }
    }

    /// A message delivered more often than the queue allows: the task is marked failed, the
    /// message left to move to the dead-letter queue.
    async fn give_up_on(&self, task_id: &str, receives: u32) {
        if let Ok(Some(task)) = self.tasks.get(task_id).await
            && task.status.is_active()
        {
            let error = format!("the task could not be processed after {receives} deliveries");
            let _ = self.tasks.fail_unleased(&task, &error, Utc::now()).await;
            tracing::error!(%task_id, receives, "giving up on the task");
        }
    }

    /// Re-sends tasks whose worker died (lease expired) or whose queue message was lost; fails
    /// hand-offs that never finished so they stop blocking their story.
    pub async fn reconcile(&self) {
        let now = Utc::now();
        let quiet_since = now
            - chrono::Duration::from_std(self.config.requeue_after)
                .unwrap_or(chrono::Duration::minutes(5));
        let stale = match self.tasks.stale(now, quiet_since).await {
            Ok(stale) => stale,
            Err(error) => {
                tracing::warn!(%error, "reconciler could not read tasks");
                return;
            }
        };
        for task in stale {
            if task.hand_off < HandOffStage::Enqueued {
                let _ = self
                    .tasks
                    .fail_unleased(&task, "the hand-off to the worker never completed", now)
                    .await;
                continue;
            }
            if self.send(&task.task_id).await {
                tracing::info!(task_id = %task.task_id, status = task.status.as_str(), "re-delivered a stale task");
                let _ = self
                    .tasks
                    .record_hand_off(&task.task_id, HandOffStage::Enqueued, None, now)
                    .await;
            }
        }
    }
}

/// How the worker is asked to stop: once `token` fires it takes no new work, and running tasks
/// may go on for the grace of the request. A plain stop (SIGTERM: systemd, a reboot) has the
/// short `AIPM_SHUTDOWN_GRACE_SECONDS`; a drain (SIGUSR1: the instance is leaving its group, and
/// aipm-drain holds the lifecycle hook) has the long `AIPM_DRAIN_GRACE_SECONDS`, so that a
/// busy agent usually finishes instead of being handed back.
#[derive(Debug, Clone)]
pub struct StopRequest {
    pub token: CancellationToken,
    grace: Arc<std::sync::Mutex<Option<Duration>>>,
}

impl StopRequest {
    pub fn new() -> Self {
        Self {
            token: CancellationToken::new(),
            grace: Arc::default(),
        }
    }

    /// Stop with `grace` for running tasks; the first request's grace holds.
    pub fn stop(&self, grace: Duration) {
        let mut chosen = self
            .grace
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        chosen.get_or_insert(grace);
        self.token.cancel();
    }

    fn grace(&self, default: Duration) -> Duration {
        self.grace
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .unwrap_or(default)
    }
}

impl Default for StopRequest {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs until `stop` fires, then stops taking work, lets running tasks finish within the
/// request's grace period, and hands back what is still running after it.
pub async fn run<H: CodeHost>(context: Arc<Context<H>>, stop: StopRequest) {
    let shutdown = stop.token.clone();
    let hand_back = CancellationToken::new();
    let permits = Arc::new(Semaphore::new(context.config.concurrency));
    let mut jobs = JoinSet::new();
    let reconciler = {
        let context = Arc::clone(&context);
        let shutdown = shutdown.clone();
        tokio::spawn(
            async move {
                let mut every = tokio::time::interval(context.config.reconcile_every);
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        _ = every.tick() => context.reconcile().await,
                    }
                }
            }
            .in_current_span(),
        )
    };
    tracing::info!(worker_id = %context.config.worker_id, concurrency = context.config.concurrency, "worker started");
    while !shutdown.is_cancelled() {
        let free = permits.available_permits();
        if free == 0 {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = jobs.join_next() => continue,
            }
        }
        let wait = i32::try_from(context.config.queue_wait.as_secs().max(1)).unwrap_or(20);
        let receive = context
            .sqs
            .receive_message()
            .queue_url(&context.config.tables.code_tasks_queue_url)
            .max_number_of_messages(i32::try_from(free.min(10)).unwrap_or(1))
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send();
        let received = tokio::select! {
            () = shutdown.cancelled() => break,
            received = receive => received,
        };
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "receive failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for message in messages {
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                break;
            };
            let context = Arc::clone(&context);
            let hand_back = hand_back.clone();
            jobs.spawn(
                async move {
                    context.process(message, &hand_back).await;
                    drop(permit);
                }
                .in_current_span(),
            );
        }
        while jobs.try_join_next().is_some() {}
    }
    let grace = stop.grace(context.config.shutdown_grace);
    tracing::info!(
        running = jobs.len(),
        grace_seconds = grace.as_secs(),
        "shutting down: no new work; waiting for running tasks"
    );
    let grace = tokio::time::sleep(grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            joined = jobs.join_next() => if joined.is_none() { break },
            () = &mut grace, if !hand_back.is_cancelled() => {
                tracing::info!(running = jobs.len(), "grace period over; handing back running tasks");
                hand_back.cancel();
            }
        }
    }
    reconciler.abort();
    tracing::info!("worker stopped");
}
