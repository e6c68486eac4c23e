//! Telemetry: JSON log lines that name the operation, the stage and the request, and CloudWatch
//! embedded-metric-format (EMF) metrics written to stdout, where CloudWatch turns them into
//! metrics without any API call.

use std::io::Write;
use std::sync::OnceLock;

use metrics_cloudwatch_embedded::Collector;

use crate::model::TaskStatus;
use tracing::Span;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The CloudWatch namespace of every AIPM metric; the alarms in template.yaml use it.
pub const METRICS_NAMESPACE: &str = "AIPM";

/// Metric names, shared by the code that emits them and the tests that read them back.
pub mod metric {
    pub const REQUESTS: &str = "Requests";
    pub const COLD_STARTS: &str = "ColdStarts";
    pub const TASKS_CREATED: &str = "TasksCreated";
    pub const TASKS_SUCCEEDED: &str = "TasksSucceeded";
    pub const TASKS_FAILED: &str = "TasksFailed";
    pub const TASKS_CANCELLED: &str = "TasksCancelled";
    pub const TASKS_TIMED_OUT: &str = "TasksTimedOut";
    pub const TASK_DURATION: &str = "TaskDuration";
    pub const WEBHOOK_EVENTS: &str = "WebhookEvents";
    pub const AI_ANSWERS: &str = "AiAnswers";
    pub const AI_FALLBACKS: &str = "AiFallbacks";
    pub const AI_INPUT_TOKENS: &str = "AiInputTokens";
    pub const AI_OUTPUT_TOKENS: &str = "AiOutputTokens";
}

/// The level: the Lambda log level the template sets, else `RUST_LOG`, else info. One level for
/// everything (the first level `RUST_LOG` names, if it has directives): a plain level filter
/// spares every binary the regex engine that per-target directives need.
fn level_filter() -> LevelFilter {
    let configured = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    level_of(&configured)
}

fn level_of(configured: &str) -> LevelFilter {
    configured
        .split([',', '='])
        .map(str::trim)
        // tracing reads an empty level as ERROR; here it means "not set".
        .filter(|part| !part.is_empty())
        .find_map(|part| part.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// A JSON subscriber: one object per line, the event's fields at the top level and every open
/// span (with its fields) under `spans`, so a line logged inside a request carries the
/// process's operation and stage and the request's id.
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_max_level(level_filter())
        .with_writer(writer)
        .finish()
}

/// Installs the JSON subscriber for the process (once; later calls keep the first).
pub fn init_logging() {
    let _ = tracing::subscriber::set_global_default(json_subscriber(std::io::stdout));
}

/// The span every line of a process lives in: which operation (or worker) and which stage.
pub fn process_span(operation: &'static str, stage: &str) -> Span {
    tracing::info_span!("process", operation, stage)
}

/// The span of one request, named by the id API Gateway and Lambda know it by.
pub fn request_span(request_id: &str) -> Span {
    tracing::info_span!("request", request_id)
}

static COLLECTOR: OnceLock<Option<&'static Collector>> = OnceLock::new();

/// Installs the EMF recorder for the process, with the stage as a dimension of every metric.
/// Without it (unit tests) the `metrics` macros do nothing.
pub fn init_metrics(stage: &str) {
    COLLECTOR.get_or_init(|| {
        metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(METRICS_NAMESPACE)
            .with_dimension("Stage", stage.to_owned())
            .init()
            .inspect_err(|error| tracing::warn!(%error, "metrics are off"))
            .ok()
            .inspect(|_| {
                metrics::describe_histogram!(metric::TASK_DURATION, metrics::Unit::Seconds, "");
            })
    });
}

/// Writes the metrics gathered since the last flush as one EMF document per line.
pub fn flush_metrics(mut out: impl Write) {
    if let Some(Some(collector)) = COLLECTOR.get() {
        let mut document = Vec::new();
        if let Err(error) = collector.flush(&mut document) {
            tracing::warn!(%error, "writing metrics failed");
            return;
        }
        if let Err(error) = out.write_all(&document).and_then(|()| out.flush()) {
            tracing::warn!(%error, "writing metrics failed");
        }
    }
}

/// Counts one answered request by operation and status class (`2xx`, `4xx`, `5xx`). The class,
/// not the code, is the dimension: the dashboard's error graphs need no metric math, and each
/// operation stays at a few metrics (the access log has the exact code).
pub fn count_request(operation: &'static str, status: u16) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::counter!(metric::REQUESTS, "Operation" => operation, "Status" => class).increment(1);
}

/// Counts a new execution environment of `operation`; it goes out with its first request's
/// metrics. (Lambda's own report lines, which carry the init duration, are below the WARN
/// system log level the template sets.)
pub fn count_cold_start(operation: &'static str) {
    metrics::counter!(metric::COLD_STARTS, "Operation" => operation).increment(1);
}

/// Counts a webhook delivery by what came of it (`ignored`, `revision`, `merged`, `closed`).
pub fn count_webhook_event(outcome: &'static str) {
    metrics::counter!(metric::WEBHOOK_EVENTS, "outcome" => outcome).increment(1);
}

/// Counts an AI feature's outcome: a model's answer (with its tokens), or a fallback to the
/// template. Only the stage is a dimension, so one alarm sees the fallback rate of every feature;
/// the feature and the reason are in the log line.
pub fn count_ai_outcome(
    operation: &'static str,
    fallback: Option<&'static str>,
    tokens: (u64, u64),
) {
    match fallback {
        None => metrics::counter!(metric::AI_ANSWERS).increment(1),
        Some(reason) => {
            tracing::info!(operation, reason, "AI draft fell back to its template");
            metrics::counter!(metric::AI_FALLBACKS).increment(1);
        }
    }
    metrics::counter!(metric::AI_INPUT_TOKENS).increment(tokens.0);
    metrics::counter!(metric::AI_OUTPUT_TOKENS).increment(tokens.1);
}

/// Counts a newly recorded code task.
pub fn count_task_created() {
    metrics::counter!(metric::TASKS_CREATED).increment(1);
}

/// Counts a code task reaching an end state and, when it ran, how long it ran in seconds.
pub fn count_task_finished(status: TaskStatus, ran_for: Option<std::time::Duration>) {
    let name = match status {
        TaskStatus::Succeeded => metric::TASKS_SUCCEEDED,
        TaskStatus::Failed => metric::TASKS_FAILED,
        TaskStatus::Cancelled => metric::TASKS_CANCELLED,
        TaskStatus::TimedOut => metric::TASKS_TIMED_OUT,
        TaskStatus::Queued | TaskStatus::Running => return,
    };
    metrics::counter!(name).increment(1);
    if let Some(ran_for) = ran_for {
        metrics::histogram!(metric::TASK_DURATION).record(ran_for.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        }
    }

    #[test]
    fn every_line_in_a_request_names_operation_stage_and_request() {
        let captured = Captured::default();
        tracing::subscriber::with_default(json_subscriber(captured.clone()), || {
            let _process = process_span("create-story", "dev").entered();
            tracing::info!("cold start done");
            let _request = request_span("req-42").entered();
            tracing::warn!(detail = "x", "something to see");
        });
        let lines = captured.lines();
        assert_eq!(lines.len(), 2);
        for line in &lines {
            let spans = line["spans"].as_array().unwrap();
            assert_eq!(spans[0]["operation"], "create-story", "{line}");
            assert_eq!(spans[0]["stage"], "dev", "{line}");
        }
        assert_eq!(lines[1]["spans"][1]["request_id"], "req-42");
        assert_eq!(lines[1]["message"], "something to see");
        assert_eq!(lines[1]["detail"], "x");
        assert_eq!(lines[1]["level"], "WARN");
    }

    #[test]
    fn the_level_comes_from_lambdas_names_or_the_first_level_rust_log_names() {
        assert_eq!(level_of("WARN"), LevelFilter::WARN);
        assert_eq!(level_of("debug"), LevelFilter::DEBUG);
        assert_eq!(level_of("aipm=trace,hyper=warn"), LevelFilter::TRACE);
        assert_eq!(level_of(""), LevelFilter::INFO);
        assert_eq!(level_of("loud"), LevelFilter::INFO);
    }

    #[test]
    fn metrics_come_out_as_emf_documents() {
        init_metrics("test");
        count_request("telemetry-test", 201);
        count_cold_start("telemetry-test");
        let captured = Captured::default();
        flush_metrics(captured.clone());
        let documents = captured.lines();
        let ours = documents
            .iter()
            .find(|document| {
                document["Operation"] == "telemetry-test" && document.get("Requests").is_some()
            })
            .expect("a document for the operation");
        assert_eq!(ours["Requests"], 1);
        assert_eq!(ours["Status"], "2xx");
        let started = documents
            .iter()
            .find(|document| {
                document["Operation"] == "telemetry-test" && document.get("ColdStarts").is_some()
            })
            .expect("a cold start document for the operation");
        assert_eq!(started["ColdStarts"], 1);
        assert_eq!(ours["Stage"], "test");
        let directive = &ours["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
        assert_eq!(directive["Metrics"][0]["Name"], "Requests");
    }
}
