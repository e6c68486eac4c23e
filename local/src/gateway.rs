//! The local stand-in for API Gateway's HTTP API that `scripts/local-up` serves (binary
//! `aipm-local`) and the fuzz test drives: it routes a request by method and path (the router
//! of Cargo.toml, as `cargo lambda watch` does), turns it into a payload 2.0 event, runs it in a
//! sandbox of that function (a process polling its own loopback Runtime API) and turns the
//! answer back into HTTP.
//!
//! Like Lambda, each sandbox handles one event at a time and concurrent requests to one
//! function run in more sandboxes (up to a limit); extra sandboxes retire after a minute idle,
//! one stays warm. A sandbox whose process ended is replaced; the request that found it dead is
//! run in a fresh one, and a request whose function died under it gets a JSON 503 at once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::router::Route;
use crate::runtime_api::Posted;
use crate::sandbox::{FunctionSpec, Invocation, Sandbox};

/// A setting for stacks whose functions run with `AIPM_AUTH_MODE=jwt` (the sign-in test): the
/// gateway then plays API Gateway's JWT authorizer for a request carrying a bearer token, handing
/// the function this `sub` as the token's verified claim. It checks no signature: a test's
/// stand-in, never part of `scripts/local-up` (whose people are picked by header instead).
pub const AUTHORIZER_SUB: &str = "AIPM_LOCAL_AUTHORIZER_SUB";

/// How the local stack runs its functions.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    pub routes: Vec<Route>,
    /// The folder holding the functions' binaries (`target/debug`).
    pub binaries: PathBuf,
    pub environment: Vec<(String, String)>,
    /// Each function's output goes to `<log_dir>/<function>.log`.
    pub log_dir: PathBuf,
    /// Sandboxes per function, as a concurrency limit would cap them on Lambda.
    pub max_sandboxes: usize,
    /// An extra sandbox idle this long is stopped; the last one of a function stays.
    pub idle_retirement: Duration,
    /// API Gateway's integration time-out: no answer by then is a 503.
    pub timeout: Duration,
    /// Print one line per request on standard output.
    pub request_log: bool,
    /// Functions fed by a queue, polled as Lambda's event source mapping would.
    pub queue_consumers: Vec<crate::router::QueueConsumer>,
    /// The live channel: WebSocket routes at `/_live` and the history stream's consumer.
    pub live: Option<crate::router::LiveSettings>,
}

impl GatewaySettings {
    /// The local stack's defaults: the workspace router, `target/debug`, 8 sandboxes per
    /// function, retirement after 60 s idle, 30 s per request.
    pub fn new(environment: Vec<(String, String)>, log_dir: &Path) -> Self {
        Self {
            routes: crate::router::routes(),
            binaries: debug_binaries(),
            environment,
            log_dir: log_dir.to_path_buf(),
            max_sandboxes: 8,
            idle_retirement: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            request_log: false,
            queue_consumers: crate::router::queue_consumers(),
            live: crate::router::live(),
        }
    }
}

/// The directory `cargo build` put the functions' debug binaries in.
pub fn debug_binaries() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"))
        .join("debug")
}

/// What a sandbox is doing, for `GET /_aipm/sandboxes`.
#[derive(Debug, Clone)]
struct Activity {
    started: Instant,
    invocations: u64,
}

/// The sandboxes of one function.
struct Pool {
    spec: FunctionSpec,
    idle: Mutex<Vec<Sandbox>>,
    busy: Mutex<BTreeMap<u32, Activity>>,
    permits: Semaphore,
    /// Sandboxes started, the first one included.
    starts: AtomicU64,
    /// Sandboxes found dead and replaced.
    replaced: AtomicU64,
}

/// Why the gateway answered instead of the function.
enum Failure {
    Busy,
    StartFailed(String),
    Crashed(String),
    TimedOut,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn log_line(message: &str) {
    println!("{} {message}", chrono::Utc::now().format("%H:%M:%S%.3f"));
}

impl Pool {
    async fn start_sandbox(&self, timeout: Duration) -> Result<Sandbox, Failure> {
        self.starts.fetch_add(1, Ordering::Relaxed);
        Sandbox::start(&self.spec, timeout)
            .await
            .map_err(Failure::StartFailed)
    }

    /// The most recently used live sandbox, dropping (and so stopping) dead ones on the way.
    fn take_idle(&self) -> Option<Sandbox> {
        let mut idle = lock(&self.idle);
        while let Some(sandbox) = idle.pop() {
            if sandbox.is_alive() {
                return Some(sandbox);
            }
            self.note_dead(&sandbox);
        }
        None
    }

    fn note_dead(&self, sandbox: &Sandbox) {
        self.replaced.fetch_add(1, Ordering::Relaxed);
        log_line(&format!(
            "{} (pid {}) had exited ({}); a new one takes its place; see {}",
            self.spec.name,
            sandbox.pid,
            sandbox.exit_status().unwrap_or_default(),
            self.spec.log.display()
        ));
    }

    /// Runs `event` in a sandbox. When the sandbox dies first, the event runs once more in a
    /// fresh one if it never reached the function, or if it is a read (`idempotent`): a kill that
    /// lands between the liveness check and the hand-over cannot be told from a crash caused by
    /// the request, and running a read twice is harmless.
    async fn invoke(
        &self,
        event: &Value,
        limit: Duration,
        idempotent: bool,
    ) -> Result<Posted, Failure> {
        let _permit = tokio::time::timeout(limit, self.permits.acquire())
            .await
            .map_err(|_| Failure::Busy)?
            .map_err(|_| Failure::Busy)?;
        for attempt in 0..2 {
            let mut sandbox = match self.take_idle() {
                Some(sandbox) => sandbox,
                None => self.start_sandbox(limit).await?,
            };
            lock(&self.busy).insert(
                sandbox.pid,
                Activity {
                    started: sandbox.started,
                    invocations: sandbox.invocations + 1,
                },
            );
            let outcome = sandbox.invoke(event, limit).await;
            lock(&self.busy).remove(&sandbox.pid);
            match outcome {
                Invocation::Answered(posted) => {
                    lock(&self.idle).push(sandbox);
                    return Ok(posted);
                }
                Invocation::Died { unseen, status } => {
                    self.note_dead(&sandbox);
                    if !((unseen || idempotent) && attempt == 0) {
                        return Err(Failure::Crashed(status));
                    }
                }
                Invocation::TimedOut => return Err(Failure::TimedOut),
            }
        }
        Err(Failure::Crashed("it died twice".into()))
    }

    /// Runs an event that is not an HTTP request; the function's JSON answer, `None` when it
    /// failed.
    async fn answer(&self, event: &Value, limit: Duration) -> Option<Value> {
        let posted = self.invoke(event, limit, false).await.ok()?;
        if posted.error {
            return None;
        }
        serde_json::from_slice(&posted.body).ok()
    }

    /// Drops dead idle sandboxes and those idle past `retirement`, keeping one live sandbox;
    /// returns whether the function has none left at all.
    fn tidy(&self, retirement: Duration) -> bool {
        let busy = lock(&self.busy).len();
        let mut idle = lock(&self.idle);
        let (alive, dead): (Vec<Sandbox>, Vec<Sandbox>) =
            idle.drain(..).partition(Sandbox::is_alive);
        for sandbox in &dead {
            self.note_dead(sandbox);
        }
        // Oldest use first, so the most recently used sandbox is the one that stays.
        let mut alive = alive;
        alive.sort_by_key(|sandbox| sandbox.last_used);
        let mut live = busy + alive.len();
        for sandbox in alive {
            if live > 1 && sandbox.last_used.elapsed() >= retirement {
                live -= 1;
                continue;
            }
            idle.push(sandbox);
        }
        live == 0
    }

    fn report(&self) -> Vec<Value> {
        let mut rows = Vec::new();
        for (pid, activity) in lock(&self.busy).iter() {
            rows.push(sandbox_row(&self.spec.name, *pid, "busy", activity));
        }
        for sandbox in lock(&self.idle).iter() {
            let activity = Activity {
                started: sandbox.started,
                invocations: sandbox.invocations,
            };
            rows.push(sandbox_row(&self.spec.name, sandbox.pid, "idle", &activity));
        }
        rows
    }
}

fn sandbox_row(function: &str, pid: u32, state: &str, activity: &Activity) -> Value {
    json!({
        "function": function,
        "pid": pid,
        "state": state,
        "invocations": activity.invocations,
        "ageSeconds": activity.started.elapsed().as_secs(),
        "rssKiB": crate::sandbox::rss_kib(pid),
    })
}

struct Serving {
    settings: GatewaySettings,
    pools: HashMap<String, Arc<Pool>>,
    requests: AtomicU64,
    live: Arc<crate::live::LiveHub>,
}

/// The local gateway: serving until dropped.
pub struct Gateway {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    serving: Arc<Serving>,
    server: JoinHandle<()>,
    maintenance: JoinHandle<()>,
    feeders: Vec<JoinHandle<()>>,
}

/// The history stream's feeder, when the settings name a live channel and its table.
fn start_stream_feeder(serving: &Arc<Serving>) -> Option<JoinHandle<()>> {
    let settings = &serving.settings;
    let live = settings.live.as_ref()?;
    let client = crate::stream_feed::client_for(&settings.environment)?;
    let table = settings
        .environment
        .iter()
        .find(|(key, _)| *key == live.table_setting)
        .map(|(_, value)| value.clone())?;
    let pool = Arc::clone(serving.pools.get(&live.broadcaster)?);
    let limit = settings.timeout;
    let prefix = live.key_prefix.clone();
    Some(tokio::spawn(async move {
        crate::stream_feed::feed(client, table, prefix, move |event| {
            let pool = Arc::clone(&pool);
            async move { pool.answer(&event, limit).await }
        })
        .await;
    }))
}

/// One feeder per queue consumer whose queue the settings name.
fn start_feeders(serving: &Arc<Serving>) -> Vec<JoinHandle<()>> {
    let settings = &serving.settings;
    let Some((client, region)) = crate::queue_feed::client_for(&settings.environment) else {
        return Vec::new();
    };
    settings
        .queue_consumers
        .iter()
        .filter_map(|consumer| {
            let queue_url = settings
                .environment
                .iter()
                .find(|(key, _)| *key == consumer.setting)
                .map(|(_, value)| value.clone())?;
            let pool = Arc::clone(serving.pools.get(&consumer.function)?);
            let limit = settings.timeout;
            let (client, region) = (client.clone(), region.clone());
            Some(tokio::spawn(async move {
                crate::queue_feed::feed(client, region, queue_url, move |event| {
                    let pool = Arc::clone(&pool);
                    async move { pool.answer(&event, limit).await }
                })
                .await;
            }))
        })
        .chain(start_stream_feeder(serving))
        .collect()
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
        self.maintenance.abort();
        for feeder in &self.feeders {
            feeder.abort();
        }
        for pool in self.serving.pools.values() {
            lock(&pool.idle).clear();
        }
    }
}

impl Gateway {
    /// Starts one sandbox of every routed function, then serves on `listener`. Fails, naming
    /// the function and its log, when a function cannot start.
    pub async fn start(
        settings: GatewaySettings,
        listener: tokio::net::TcpListener,
    ) -> Result<Self, String> {
        let mut settings = settings;
        std::fs::create_dir_all(&settings.log_dir)
            .map_err(|error| format!("cannot create {}: {error}", settings.log_dir.display()))?;
        let address = listener
            .local_addr()
            .map_err(|error| format!("no local address: {error}"))?;
        // The broadcaster posts to this gateway's `@connections`, as to API Gateway's.
        if settings.live.is_some()
            && !settings
                .environment
                .iter()
                .any(|(name, _)| name == aipm::config::vars::LIVE_ENDPOINT)
        {
            settings.environment.push((
                aipm::config::vars::LIVE_ENDPOINT.to_owned(),
                format!("http://{address}{}", crate::live::PATH),
            ));
        }
        let environment = Arc::new(settings.environment.clone());
        let mut pools = HashMap::new();
        let functions = settings
            .routes
            .iter()
            .map(|route| route.function.clone())
            .chain(
                settings
                    .queue_consumers
                    .iter()
                    .map(|consumer| consumer.function.clone()),
            )
            .chain(
                settings
                    .live
                    .iter()
                    .flat_map(|live| [live.socket.clone(), live.broadcaster.clone()]),
            );
        for function in functions {
            if pools.contains_key(&function) {
                continue;
            }
            let binary = settings.binaries.join(&function);
            if !binary.exists() {
                return Err(format!(
                    "{} is missing: run `cargo build --workspace --bins` first",
                    binary.display()
                ));
            }
            let spec = FunctionSpec {
                name: function.clone(),
                binary,
                environment: Arc::clone(&environment),
                log: settings.log_dir.join(format!("{function}.log")),
            };
            pools.insert(
                function.clone(),
                Arc::new(Pool {
                    spec,
                    idle: Mutex::new(Vec::new()),
                    busy: Mutex::new(BTreeMap::new()),
                    permits: Semaphore::new(settings.max_sandboxes.max(1)),
                    starts: AtomicU64::new(0),
                    replaced: AtomicU64::new(0),
                }),
            );
        }
        let warmups = pools.values().map(|pool| {
            let pool = Arc::clone(pool);
            let limit = settings.timeout;
            async move {
                let sandbox = pool
                    .start_sandbox(limit)
                    .await
                    .map_err(|failure| match failure {
                        Failure::StartFailed(message) => message,
                        _ => format!("{} did not start", pool.spec.name),
                    })?;
                lock(&pool.idle).push(sandbox);
                Ok::<_, String>(())
            }
        });
        for warmed in futures::future::join_all(warmups).await {
            warmed?;
        }
        let serving = Arc::new(Serving {
            settings,
            pools,
            requests: AtomicU64::new(0),
            live: Arc::new(crate::live::LiveHub::default()),
        });
        let handler = Arc::clone(&serving);
        let server = crate::loopback::serve_on(listener, move |request| {
            let serving = Arc::clone(&handler);
            async move { serving.handle(request).await }
        });
        let maintenance = tokio::spawn(maintain(Arc::clone(&serving)));
        let feeders = start_feeders(&serving);
        Ok(Self {
            url: format!("http://{address}"),
            serving,
            server,
            maintenance,
            feeders,
        })
    }

    /// Every sandbox with its function, pid, state and memory.
    pub fn sandboxes(&self) -> Value {
        self.serving.sandboxes()
    }
}

/// Every few seconds: replace what died, retire what idles, keep one sandbox per function.
async fn maintain(serving: Arc<Serving>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(5));
    loop {
        ticks.tick().await;
        for pool in serving.pools.values() {
            if pool.tidy(serving.settings.idle_retirement)
                && let Ok(sandbox) = pool.start_sandbox(serving.settings.timeout).await
            {
                lock(&pool.idle).push(sandbox);
            }
        }
    }
}

/// Splits `a=1&b=x%20y` into decoded pairs, the last value of a name winning.
pub(crate) fn query_parameters(query: &str) -> serde_json::Map<String, Value> {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), json!(decode(value)))
        })
        .collect()
}

/// The payload 2.0 event API Gateway's HTTP API hands a function for `method path?query` on
/// `route` (a template such as `/stories/{id}`): path parameters from the template, decoded
/// query parameters, and a body that is base64-encoded when it is not UTF-8.
pub fn http_api_event(
    method: &str,
    route: &str,
    path_and_query: &str,
    headers: serde_json::Map<String, Value>,
    body: &[u8],
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let parameters: serde_json::Map<String, Value> = route
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(template, segment)| {
            let name = template.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.to_owned(), json!(segment)))
        })
        .collect();
    let route_key = format!("{method} {route}");
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1",
                      "sourceIp": "127.0.0.1", "userAgent": "local" },
            "requestId": "local", "routeKey": route_key, "stage": "$default",
            "time": "22/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_341_600_000_u64
        },
        "isBase64Encoded": false
    });
    if !parameters.is_empty() {
        event["pathParameters"] = Value::Object(parameters);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query_parameters(query));
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = json!(text),
            Err(_) => {
                event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
                event["isBase64Encoded"] = json!(true);
            }
        }
    }
    event
}

fn answer(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The API's own error shape, for what the gateway answers in a function's place.
fn unavailable(function: &str, failure: &Failure) -> Response<Full<Bytes>> {
    let (code, message) = match failure {
        Failure::Busy => (
            "FUNCTION_BUSY",
            format!("every {function} sandbox stayed busy; try again"),
        ),
        Failure::StartFailed(reason) => (
            "FUNCTION_UNAVAILABLE",
            format!("{function} could not start: {reason}"),
        ),
        Failure::Crashed(status) => (
            "FUNCTION_CRASHED",
            format!(
                "{function} stopped while handling this request ({status}); it is restarted for the next one"
            ),
        ),
        Failure::TimedOut => (
            "FUNCTION_TIMED_OUT",
            format!(
                "{function} did not answer in time; it was stopped and is restarted for the next request"
            ),
        ),
    };
    let mut response = answer(
        503,
        &json!({"error": {"code": code, "message": message, "details": {"function": function}}}),
    );
    response.headers_mut().insert(
        hyper::header::RETRY_AFTER,
        hyper::header::HeaderValue::from_static("1"),
    );
    response
}

/// The HTTP response for what a function posted (payload 2.0 response format).
fn function_response(posted: &Posted) -> Response<Full<Bytes>> {
    let internal = || answer(500, &json!({"message": "Internal Server Error"}));
    if posted.error {
        return internal();
    }
    let Ok(reply) = serde_json::from_slice::<Value>(&posted.body) else {
        return internal();
    };
    let status = reply["statusCode"].as_u64().unwrap_or(500) as u16;
    let text = reply["body"].as_str().unwrap_or_default();
    let bytes = if reply["isBase64Encoded"] == json!(true) {
        match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) => bytes,
            Err(_) => return internal(),
        }
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in reply["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(hyper::header::HeaderValue::from_str),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    for cookie in reply["cookies"].as_array().into_iter().flatten() {
        if let Some(Ok(value)) = cookie.as_str().map(hyper::header::HeaderValue::from_str) {
            response
                .headers_mut()
                .append(hyper::header::SET_COOKIE, value);
        }
    }
    response
}

impl Serving {
    fn sandboxes(&self) -> Value {
        let mut functions: Vec<&Arc<Pool>> = self.pools.values().collect();
        functions.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        let rows: Vec<Value> = functions.iter().flat_map(|pool| pool.report()).collect();
        let replaced: u64 = functions
            .iter()
            .map(|pool| pool.replaced.load(Ordering::Relaxed))
            .sum();
        let starts: u64 = functions
            .iter()
            .map(|pool| pool.starts.load(Ordering::Relaxed))
            .sum();
        json!({
            "sandboxes": rows,
            "starts": starts,
            "replaced": replaced,
            "requests": self.requests.load(Ordering::Relaxed),
        })
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let began = Instant::now();
        let method = request.method().as_str().to_owned();
        let path = request.uri().path().to_owned();
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |value| value.as_str().to_owned());
        if method == "GET" && path == "/_aipm/sandboxes" {
            return answer(200, &self.sandboxes());
        }
        if method == "GET" && path == "/_aipm/live" {
            return answer(200, &json!({ "connections": self.live.connections() }));
        }
        if path == crate::live::PATH || path.starts_with(&format!("{}/", crate::live::PATH)) {
            return self.live_request(request, &method, &path).await;
        }
        let Some(route) = crate::router::find(&self.settings.routes, &method, &path) else {
            return answer(404, &json!({"message": "Not Found"}));
        };
        let function = route.function.clone();
        let template = route.template.clone();
        let mut headers = serde_json::Map::new();
        for (name, value) in request.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match headers.get_mut(name.as_str()) {
                Some(Value::String(joined)) => {
                    joined.push(',');
                    joined.push_str(&value);
                }
                _ => {
                    headers.insert(name.as_str().to_owned(), json!(value));
                }
            }
        }
        let body = match request.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return answer(400, &json!({"message": "Bad Request"})),
        };
        let number = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let mut event = http_api_event(&method, &template, &path_and_query, headers, &body);
        let now = chrono::Utc::now();
        event["requestContext"]["requestId"] = json!(format!("local-{number}"));
        event["requestContext"]["timeEpoch"] = json!(now.timestamp_millis());
        event["requestContext"]["time"] = json!(now.format("%d/%b/%Y:%H:%M:%S %z").to_string());
        let bearer = event["headers"]["authorization"]
            .as_str()
            .is_some_and(|value| value.starts_with("Bearer "));
        if let (Some((_, sub)), true) = (
            self.settings
                .environment
                .iter()
                .find(|(name, _)| name == AUTHORIZER_SUB),
            bearer,
        ) {
            event["requestContext"]["authorizer"] =
                json!({ "jwt": { "claims": { "sub": sub }, "scopes": null } });
        }
        let Some(pool) = self.pools.get(&function) else {
            return answer(404, &json!({"message": "Not Found"}));
        };
        let idempotent = method == "GET" || method == "HEAD";
        let response = match pool.invoke(&event, self.settings.timeout, idempotent).await {
            Ok(posted) => function_response(&posted),
            Err(failure) => unavailable(&function, &failure),
        };
        if self.settings.request_log {
            log_line(&format!(
                "{method} {path_and_query} → {function} {} ({} ms)",
                response.status().as_u16(),
                began.elapsed().as_millis()
            ));
        }
        response
    }
}

impl Serving {
    /// The live channel's socket (`/_live`) and its management API (`/_live/@connections/…`).
    async fn live_request(
        &self,
        request: Request<Incoming>,
        method: &str,
        path: &str,
    ) -> Response<Full<Bytes>> {
        let Some(pool) = self
            .settings
            .live
            .as_ref()
            .and_then(|live| self.pools.get(&live.socket))
        else {
            return answer(404, &json!({"message": "Not Found"}));
        };
        if path == crate::live::PATH {
            if !crate::live::LiveHub::is_upgrade(&request) {
                return answer(426, &json!({"message": "Upgrade Required"}));
            }
            let pool = Arc::clone(pool);
            let limit = self.settings.timeout;
            let invoke: crate::live::Invoke = Arc::new(move |event| {
                let pool = Arc::clone(&pool);
                Box::pin(async move { pool.answer(&event, limit).await })
            });
            return self.live.accept(request, invoke).await;
        }
        let body = match request.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return answer(400, &json!({"message": "Bad Request"})),
        };
        self.live.manage(method, path, &body)
    }
}

/// The gateway on a free loopback port with the workspace's routes, for tests.
pub struct LocalGateway {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub log_dir: PathBuf,
    gateway: Gateway,
}

impl LocalGateway {
    /// Starts every routed function (debug builds; `cargo build --workspace --bins` makes
    /// them) with `environment`; their output goes to files in `log_dir`.
    pub async fn start(environment: &[(String, String)], log_dir: &Path) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let settings = GatewaySettings::new(environment.to_vec(), log_dir);
        let gateway = Gateway::start(settings, listener)
            .await
            .unwrap_or_else(|error| panic!("the local gateway did not start: {error}"));
        Self {
            url: gateway.url.clone(),
            log_dir: log_dir.to_path_buf(),
            gateway,
        }
    }

    pub fn sandboxes(&self) -> Value {
        self.gateway.sandboxes()
    }
}
