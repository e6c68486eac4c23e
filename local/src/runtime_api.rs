//! A Lambda Runtime API on loopback: a function process polls it for events exactly as on
//! Lambda (`/2018-06-01/runtime/invocation/next`) and posts its responses back, so a built
//! function can be started, timed and driven without AWS or `cargo lambda` (the benchmark, the
//! local gateway).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// What the function posted for an invocation (or at init): its body, when, and whether it was
/// an error report.
#[derive(Debug)]
pub struct Posted {
    pub body: Bytes,
    pub at: Instant,
    pub error: bool,
    /// The invocation it answers (`…/invocation/{id}/response`), `None` for anything else.
    pub request_id: Option<String>,
    /// The method and path it came on, for reports of posts that answer nothing.
    pub path: String,
}

/// The request id in `…/runtime/invocation/{id}/response` or `…/{id}/error`.
fn invocation_id(path: &str) -> Option<String> {
    let (before, last) = path.rsplit_once('/')?;
    if last != "response" && last != "error" {
        return None;
    }
    let (rest, id) = before.rsplit_once('/')?;
    rest.ends_with("/runtime/invocation").then(|| id.to_owned())
}

struct Shared {
    /// Each time the function asks for the next event.
    polls: mpsc::UnboundedSender<Instant>,
    events: Mutex<mpsc::UnboundedReceiver<(String, Bytes)>>,
    posted: mpsc::UnboundedSender<Posted>,
    /// Events handed to the function so far.
    delivered: AtomicU64,
}

pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    polls: mpsc::UnboundedReceiver<Instant>,
    events: mpsc::UnboundedSender<(String, Bytes)>,
    posted: mpsc::UnboundedReceiver<Posted>,
    server: JoinHandle<()>,
    shared: Arc<Shared>,
    next_id: u64,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// How long a retired process's last poll is held before the connection is let go.
const RETIRED_POLL: std::time::Duration = std::time::Duration::from_secs(120);

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

impl Shared {
    async fn serve(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        if request.method() == Method::GET && path.ends_with("/runtime/invocation/next") {
            let _ = self.polls.send(Instant::now());
            let next = self.events.lock().await.recv().await;
            let Some((id, event)) = next else {
                // No more events for this process (it is being retired): the poll stays open,
                // as Lambda's does between events, while the process is stopped. An answer now
                // would be an event without a request id, which the runtime client panics on;
                // the late one only frees the connection of a process long gone.
                tokio::time::sleep(RETIRED_POLL).await;
                return reply(StatusCode::GONE, Bytes::new());
            };
            self.delivered.fetch_add(1, Ordering::SeqCst);
            let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
            let mut response = reply(StatusCode::OK, event);
            let headers = response.headers_mut();
            if let Ok(id) = HeaderValue::from_str(&id) {
                headers.insert("lambda-runtime-aws-request-id", id);
            }
            headers.insert("lambda-runtime-deadline-ms", deadline.into());
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:bench"),
            );
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            return response;
        }
        let error = path.ends_with("/error");
        let described = format!("{} {path}", request.method());
        let body = request
            .into_body()
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        let _ = self.posted.send(Posted {
            body,
            at: Instant::now(),
            error,
            request_id: invocation_id(&path),
            path: described,
        });
        reply(StatusCode::ACCEPTED, Bytes::from_static(b"{}"))
    }
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (polls_in, polls) = mpsc::unbounded_channel();
        let (events, events_out) = mpsc::unbounded_channel();
        let (posted_in, posted) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            polls: polls_in,
            events: Mutex::new(events_out),
            posted: posted_in,
            delivered: AtomicU64::new(0),
        });
        let serving = Arc::clone(&shared);
        let (address, server) = crate::loopback::serve(move |request| {
            let shared = Arc::clone(&serving);
            async move { shared.serve(request).await }
        })
        .await;
        Self {
            address,
            polls,
            events,
            posted,
            server,
            shared,
            next_id: 0,
        }
    }

    /// How many events the function has taken so far.
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::SeqCst)
    }

    /// Queues one event for the function's next poll; returns its request id.
    pub fn send(&mut self, event: &serde_json::Value) -> String {
        self.next_id += 1;
        let id = format!("local-{:08}", self.next_id);
        let body = Bytes::from(serde_json::to_vec(event).unwrap_or_default());
        let _ = self.events.send((id.clone(), body));
        id
    }

    /// What the function posts for invocation `id`: its response or error report. Anything
    /// else posted meanwhile (a late answer to an earlier invocation, an init error) is
    /// reported and dropped rather than taken for this answer. `None` when the API closed.
    pub async fn answer_to(&mut self, id: &str) -> Option<Posted> {
        loop {
            let posted = self.posted.recv().await?;
            if posted.request_id.as_deref() == Some(id) {
                return Some(posted);
            }
            eprintln!(
                "runtime API {}: ignored a post that answers no open invocation: {} ({} bytes)",
                self.address,
                posted.path,
                posted.body.len()
            );
        }
    }

    /// Waits for the function's next poll for an event; `None` if it never comes (it died).
    pub async fn next_poll(&mut self, within: std::time::Duration) -> Option<Instant> {
        tokio::time::timeout(within, self.polls.recv())
            .await
            .ok()
            .flatten()
    }

    /// Hands the function one event and waits for what it posts back.
    pub async fn invoke(&mut self, event: &serde_json::Value) -> (Instant, Posted) {
        let sent = Instant::now();
        let id = self.send(event);
        let posted = tokio::time::timeout(std::time::Duration::from_secs(60), self.answer_to(&id))
            .await
            .ok()
            .flatten()
            .unwrap_or(Posted {
                body: Bytes::from_static(b"no answer within 60 s"),
                at: Instant::now(),
                error: true,
                request_id: None,
                path: String::new(),
            });
        (sent, posted)
    }

    /// Forgets polls left over from a previous process.
    pub fn drain(&mut self) {
        while self.polls.try_recv().is_ok() {}
        while self.posted.try_recv().is_ok() {}
    }
}

/// The command that starts a function binary as Lambda would, against the Runtime API at
/// `runtime`; its output goes to `log` (appended) or nowhere.
pub fn function_command(
    binary: &std::path::Path,
    environment: &[(String, String)],
    runtime: &str,
    log: Option<&std::path::Path>,
) -> std::process::Command {
    let name = binary
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let output = || {
        log.and_then(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .ok()
        })
        .map_or_else(std::process::Stdio::null, std::process::Stdio::from)
    };
    let mut command = std::process::Command::new(binary);
    command
        .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", runtime)
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .stdin(std::process::Stdio::null())
        .stdout(output())
        .stderr(output());
    command
}

/// Starts a function binary as Lambda would (see [`function_command`]).
pub fn spawn_function(
    binary: &std::path::Path,
    environment: &[(String, String)],
    runtime: &str,
    log: Option<&std::path::Path>,
) -> std::process::Child {
    function_command(binary, environment, runtime, log)
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()))
}

#[cfg(test)]
mod tests {
    use super::invocation_id;

    #[test]
    fn posts_name_the_invocation_they_answer() {
        assert_eq!(
            invocation_id("/2018-06-01/runtime/invocation/local-00000007/response").as_deref(),
            Some("local-00000007")
        );
        assert_eq!(
            invocation_id("/2018-06-01/runtime/invocation/abc/error").as_deref(),
            Some("abc")
        );
        assert_eq!(invocation_id("/2018-06-01/runtime/init/error"), None);
        assert_eq!(invocation_id("/2018-06-01/runtime/invocation/next"), None);
    }
}
