//! The local stand-in for API Gateway's WebSocket API (the live channel): a socket opened at
//! `/_live?ticket=…` is accepted only when the socket function answers `$connect` with 200, each
//! text frame goes to it as `$default` (its answer's body comes back on the socket), a close
//! becomes `$disconnect`; `POST`/`DELETE /_live/@connections/{id}` is the management API the
//! broadcaster posts to, with API Gateway's 410 `GoneException` for a socket that is gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Where the page opens the channel, and the management API's prefix.
pub const PATH: &str = "/_live";

/// API Gateway closes a socket that has received nothing from its client for 10 minutes.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Runs one event in the socket function; `None` when it failed or did not answer.
pub type Invoke = Arc<dyn Fn(Value) -> BoxFuture<'static, Option<Value>> + Send + Sync>;

/// What goes out on one socket.
enum Outbound {
    Frame(String),
    Close,
}

#[derive(Default)]
pub struct LiveHub {
    sockets: Mutex<HashMap<String, mpsc::UnboundedSender<Outbound>>>,
    opened: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn plain(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// API Gateway's answer for a connection that is not open.
fn gone() -> Response<Full<Bytes>> {
    let mut response = plain(StatusCode::GONE, &json!({ "message": "GoneException" }));
    response.headers_mut().insert(
        "x-amzn-errortype",
        hyper::header::HeaderValue::from_static("GoneException"),
    );
    response
}

fn socket_event(route: &str, connection: &str, extra: Value) -> Value {
    let event_type = match route {
        "$connect" => "CONNECT",
        "$disconnect" => "DISCONNECT",
        _ => "MESSAGE",
    };
    let mut event = json!({
        "requestContext": {
            "routeKey": route,
            "eventType": event_type,
            "connectionId": connection,
            "stage": "live",
            "requestId": request_id(),
            "connectedAt": chrono::Utc::now().timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if let (Some(event), Value::Object(extra)) = (event.as_object_mut(), extra) {
        event.extend(extra);
    }
    event
}

/// A request id for one socket event, unique enough on one machine (the clock in nanoseconds).
fn request_id() -> String {
    format!(
        "live-{:x}",
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

impl LiveHub {
    pub fn is_upgrade(request: &Request<Incoming>) -> bool {
        request
            .headers()
            .get(hyper::header::UPGRADE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
    }

    /// The open sockets' ids (`GET /_aipm/live`: a test drops them to see a page reconnect).
    pub fn connections(&self) -> Vec<String> {
        let mut ids: Vec<String> = lock(&self.sockets).keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Opens a socket if the function admits it on `$connect`.
    pub async fn accept(
        self: &Arc<Self>,
        mut request: Request<Incoming>,
        invoke: Invoke,
    ) -> Response<Full<Bytes>> {
        let Some(key) = request
            .headers()
            .get("sec-websocket-key")
            .map(|key| derive_accept_key(key.as_bytes()))
        else {
            return plain(
                StatusCode::BAD_REQUEST,
                &json!({ "message": "Bad Request" }),
            );
        };
        let query = request
            .uri()
            .query()
            .map(crate::gateway::query_parameters)
            .unwrap_or_default();
        let number = self.opened.fetch_add(1, Ordering::Relaxed) + 1;
        // API Gateway's ids are 16 characters of base64; any unique text does here.
        let connection = format!("Loc{number:012}=");
        let connect = socket_event(
            "$connect",
            &connection,
            json!({ "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) } }),
        );
        let status = invoke(connect)
            .await
            .and_then(|answer| answer["statusCode"].as_u64())
            .unwrap_or(502);
        if status != 200 {
            let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::BAD_GATEWAY);
            return plain(status, &json!({ "message": "Forbidden" }));
        }
        let upgrade = hyper::upgrade::on(&mut request);
        let hub = Arc::clone(self);
        tokio::spawn(async move {
            // Listed only once the socket is really open: a page that went away during the
            // handshake leaves nothing behind.
            if let Ok(upgraded) = upgrade.await {
                let (sender, receiver) = mpsc::unbounded_channel();
                lock(&hub.sockets).insert(connection.clone(), sender.clone());
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                hub.run(socket, &connection, sender, receiver, &invoke)
                    .await;
            }
            lock(&hub.sockets).remove(&connection);
            let _ = invoke(socket_event("$disconnect", &connection, json!({}))).await;
        });
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(
            hyper::header::UPGRADE,
            hyper::header::HeaderValue::from_static("websocket"),
        );
        headers.insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("Upgrade"),
        );
        if let Ok(value) = hyper::header::HeaderValue::from_str(&key) {
            headers.insert("sec-websocket-accept", value);
        }
        response
    }

    /// Moves frames both ways until either side closes.
    async fn run(
        &self,
        socket: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
        connection: &str,
        sender: mpsc::UnboundedSender<Outbound>,
        mut receiver: mpsc::UnboundedReceiver<Outbound>,
        invoke: &Invoke,
    ) {
        let (mut outgoing, mut incoming) = socket.split();
        let mut idle_until = tokio::time::Instant::now() + IDLE_TIMEOUT;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(idle_until) => {
                    let _ = outgoing.send(Message::Close(None)).await;
                    return;
                }
                out = receiver.recv() => match out {
                    Some(Outbound::Frame(text)) => {
                        if outgoing.send(Message::text(text)).await.is_err() {
                            return;
                        }
                    }
                    Some(Outbound::Close) | None => {
                        let _ = outgoing.send(Message::Close(None)).await;
                        return;
                    }
                },
                frame = incoming.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        idle_until = tokio::time::Instant::now() + IDLE_TIMEOUT;
                        // Each message runs on its own, as on API Gateway; its answer (a pong)
                        // comes back through the same queue as the broadcaster's posts.
                        let event = socket_event("$default", connection, json!({ "body": text.as_str() }));
                        let invoke = Arc::clone(invoke);
                        let sender = sender.clone();
                        tokio::spawn(async move {
                            if let Some(body) = invoke(event).await.and_then(|answer| answer["body"].as_str().map(str::to_owned)) {
                                let _ = sender.send(Outbound::Frame(body));
                            }
                        });
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    /// The management API: `POST` sends the body as a text frame, `DELETE` closes the socket.
    pub fn manage(&self, method: &str, path: &str, body: &Bytes) -> Response<Full<Bytes>> {
        let rest = path.strip_prefix(PATH).unwrap_or_default();
        let Some(id) = rest
            .strip_prefix("/@connections/")
            .or_else(|| rest.strip_prefix("/%40connections/"))
        else {
            return plain(StatusCode::NOT_FOUND, &json!({ "message": "Not Found" }));
        };
        let id = percent_encoding::percent_decode_str(id)
            .decode_utf8_lossy()
            .into_owned();
        let sockets = lock(&self.sockets);
        let Some(sender) = sockets.get(&id) else {
            return gone();
        };
        let sent = match method {
            "POST" => sender.send(Outbound::Frame(String::from_utf8_lossy(body).into_owned())),
            "DELETE" => sender.send(Outbound::Close),
            "GET" => Ok(()),
            _ => {
                return plain(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &json!({ "message": "Method Not Allowed" }),
                );
            }
        };
        match sent {
            Ok(()) if method == "GET" => plain(StatusCode::OK, &json!({ "connectionId": id })),
            Ok(()) => plain(StatusCode::OK, &json!({})),
            Err(_) => gone(),
        }
    }
}
