//! A local stand-in for API Gateway's HTTP API in front of the built functions, for the fuzz
//! test: it routes a request by method and path to the function openapi.yaml names for it,
//! turns it into a payload 2.0 event, hands that to the function's process through the
//! function's own loopback Lambda Runtime API, and turns the answer back into HTTP. Like API
//! Gateway, it passes a body that is not UTF-8 base64-encoded and answers 404 for unknown
//! routes. (`cargo lambda watch` under schemathesis's load sometimes answered with its own 500
//! or handed a function an event without a request id, which crashed it.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::runtime_api::{RuntimeApi, spawn_function};

/// How long the gateway waits for a function, as API Gateway's integration time-out would.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One function: its process and the Runtime API it polls; one invocation at a time.
struct Function {
    runtime: Mutex<RuntimeApi>,
    process: std::sync::Mutex<std::process::Child>,
}

/// A route of openapi.yaml: method, path template, and the function (its operationId).
struct Route {
    method: String,
    template: String,
    function: String,
}

struct Routes {
    routes: Vec<Route>,
    functions: HashMap<String, Function>,
}

pub struct LocalGateway {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub log: PathBuf,
    routes: Arc<Routes>,
    server: JoinHandle<()>,
}

impl Drop for LocalGateway {
    fn drop(&mut self) {
        self.server.abort();
        for function in self.routes.functions.values() {
            if let Ok(mut process) = function.process.lock() {
                let _ = process.kill();
                let _ = process.wait();
            }
        }
    }
}

/// The directory `cargo build` put the functions' debug binaries in.
fn debug_binaries() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"))
        .join("debug")
}

/// Splits `a=1&b=x%20y` into decoded pairs, the last value of a name winning.
fn query_parameters(query: &str) -> serde_json::Map<String, Value> {
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

fn answer(status: u16, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

impl Routes {
    fn find(&self, method: &str, path: &str) -> Option<&Route> {
        self.routes.iter().find(|route| {
            route.method == method && crate::openapi::template_matches(&route.template, path)
        })
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = request.method().as_str().to_owned();
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |value| value.as_str().to_owned());
        let Some(route) = self.find(&method, request.uri().path()) else {
            return answer(404, r#"{"message":"Not Found"}"#);
        };
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
            Err(_) => return answer(400, r#"{"message":"Bad Request"}"#),
        };
        let event = http_api_event(&method, &route.template, &path_and_query, headers, &body);
        let Some(function) = self.functions.get(&route.function) else {
            return answer(500, r#"{"message":"Internal Server Error"}"#);
        };
        let posted = {
            let mut runtime = function.runtime.lock().await;
            tokio::time::timeout(INTEGRATION_TIMEOUT, runtime.invoke(&event)).await
        };
        let Ok((_, posted)) = posted else {
            return answer(503, r#"{"message":"Service Unavailable"}"#);
        };
        let Ok(reply) = serde_json::from_slice::<Value>(&posted.body) else {
            return answer(502, r#"{"message":"Internal Server Error"}"#);
        };
        if posted.error {
            return answer(502, r#"{"message":"Internal Server Error"}"#);
        }
        let status = reply["statusCode"].as_u64().unwrap_or(502) as u16;
        let text = reply["body"].as_str().unwrap_or_default();
        let bytes = if reply["isBase64Encoded"] == json!(true) {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default()
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
        response
    }
}

impl LocalGateway {
    /// Starts every function of openapi.yaml (debug builds; `cargo build --workspace --bins`
    /// makes them) with `environment`, and serves them on a free loopback port.
    pub async fn start(environment: &[(String, String)], log: &Path) -> Self {
        let spec = crate::openapi::spec().document();
        let mut routes = Vec::new();
        for (template, item) in spec["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                if let Some(function) = operation["operationId"].as_str() {
                    routes.push(Route {
                        method: method.to_ascii_uppercase(),
                        template: template.clone(),
                        function: function.to_owned(),
                    });
                }
            }
        }
        let mut functions = HashMap::new();
        for route in &routes {
            if functions.contains_key(&route.function) {
                continue;
            }
            let binary = debug_binaries().join(&route.function);
            assert!(
                binary.exists(),
                "{} is missing: run `cargo build --workspace --bins` first",
                binary.display()
            );
            let mut runtime = RuntimeApi::start().await;
            let process = spawn_function(&binary, environment, &runtime.address, Some(log));
            runtime
                .next_poll(Duration::from_secs(30))
                .await
                .unwrap_or_else(|| {
                    panic!("{} did not start; see {}", route.function, log.display())
                });
            functions.insert(
                route.function.clone(),
                Function {
                    runtime: Mutex::new(runtime),
                    process: std::sync::Mutex::new(process),
                },
            );
        }
        let routes = Arc::new(Routes { routes, functions });
        let serving = Arc::clone(&routes);
        let (address, server) = crate::loopback::serve(move |request| {
            let routes = Arc::clone(&serving);
            async move { routes.handle(request).await }
        })
        .await;
        Self {
            url: format!("http://{address}"),
            log: log.to_path_buf(),
            routes,
            server,
        }
    }
}
