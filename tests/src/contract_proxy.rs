//! A loopback HTTP proxy in front of `cargo lambda watch` that checks every response against
//! openapi.yaml on its way to the test. Tests talk to the proxy, so no response escapes the
//! check, whichever client code sent the request. A response that breaks the spec reaches the
//! test as status 599 with the reason, and is kept for [`ContractProxy::violations`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use hyper::{Request, Response, StatusCode};
use tokio::task::JoinHandle;

/// The status a contract violation reaches the test with: no real answer uses it.
pub const VIOLATION_STATUS: u16 = 599;

pub struct ContractProxy {
    pub url: String,
    violations: Arc<Mutex<Vec<String>>>,
    server: JoinHandle<()>,
}

impl Drop for ContractProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Upstream {
    url: String,
    client: reqwest::Client,
    violations: Arc<Mutex<Vec<String>>>,
}

impl ContractProxy {
    pub async fn start(upstream_url: &str) -> Self {
        let violations = Arc::new(Mutex::new(Vec::new()));
        let upstream = Arc::new(Upstream {
            url: upstream_url.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("an HTTP client"),
            violations: Arc::clone(&violations),
        });
        let (address, server) = crate::loopback::serve(move |request| {
            let upstream = Arc::clone(&upstream);
            async move { upstream.forward(request).await }
        })
        .await;
        let url = format!("http://{address}");
        Self {
            url,
            violations,
            server,
        }
    }

    /// Every response so far that did not match openapi.yaml.
    pub fn violations(&self) -> Vec<String> {
        self.violations
            .lock()
            .map(|list| list.clone())
            .unwrap_or_default()
    }
}

fn plain(status: u16, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response
}

impl Upstream {
    async fn forward(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = request.method().clone();
        let path = request
            .uri()
            .path_and_query()
            .map(|path| path.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let headers = request.headers().clone();
        let body = match request.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => return plain(400, format!("proxy: unreadable request body: {error}")),
        };
        let mut outgoing = self
            .client
            .request(method.clone(), format!("{}{path}", self.url))
            .body(body);
        for (name, value) in &headers {
            if name != HOST && name != CONTENT_LENGTH {
                outgoing = outgoing.header(name, value);
            }
        }
        let answer = match outgoing.send().await {
            Ok(answer) => answer,
            Err(error) => {
                return plain(502, format!("proxy: the local API did not answer: {error}"));
            }
        };
        let status = answer.status();
        let answer_headers = answer.headers().clone();
        let bytes = match answer.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return plain(502, format!("proxy: unreadable answer: {error}")),
        };
        let content_type = answer_headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        // Methods and paths outside the spec never reach a function; the router answers them.
        let spec = crate::openapi::spec();
        let checked = if spec.documents(method.as_str(), &path) {
            spec.check(
                method.as_str(),
                &path,
                status.as_u16(),
                content_type,
                &bytes,
            )
        } else {
            Ok(())
        };
        if let Err(violation) = checked {
            let violation = format!(
                "{violation} [answer: {content_type:?} {}]",
                String::from_utf8_lossy(&bytes[..bytes.len().min(400)])
            );
            if let Ok(mut list) = self.violations.lock() {
                list.push(violation.clone());
            }
            return plain(VIOLATION_STATUS, format!("contract violation: {violation}"));
        }
        let mut response = Response::new(Full::new(bytes));
        *response.status_mut() = status;
        for (name, value) in &answer_headers {
            if name != TRANSFER_ENCODING && name != CONTENT_LENGTH {
                response.headers_mut().append(name, value.clone());
            }
        }
        response
    }
}
