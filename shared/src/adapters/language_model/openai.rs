//! An OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM): one POST with a JSON
//! schema as the response format, the answer read from the first choice. The port needs one
//! call, not a client library: hyper's pooled client over rustls with ring and the system's roots
//! (any provider's certificate authority), the TLS stack the AWS clients already link.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{Request, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::ports::{AiFailure, JsonAnswer, JsonTask, LanguageModel};

#[derive(Clone)]
pub struct OpenAiCompatible {
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    base_url: String,
    model: String,
    api_key: String,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OpenAiCompatible({} at {})", self.model, self.base_url)
    }
}

impl OpenAiCompatible {
    /// Fails only when the system's certificate roots cannot be read (for an `https://` URL).
    pub fn new(base_url: &str, model: &str, api_key: &str) -> std::io::Result<Self> {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(Duration::from_secs(2)));
        tcp.enforce_http(false);
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let tls = if base_url
            .get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
        {
            hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider)?
        } else {
            // A plain-HTTP server (a local Ollama or vLLM) needs no roots, and reading the
            // system's bundle would cost every cold start about 5 ms.
            let nothing_trusted = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(std::io::Error::other)?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(nothing_trusted)
        };
        let connector = tls.https_or_http().enable_http1().wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key: api_key.to_owned(),
        })
    }

    fn body(&self, task: &JsonTask) -> Value {
        json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": task.system},
                {"role": "user", "content": task.user}
            ],
            "max_tokens": task.max_tokens,
            "temperature": task.temperature,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": task.tool_name, "strict": true, "schema": task.schema}
            }
        })
    }

    async fn call(&self, task: &JsonTask) -> Result<JsonAnswer, AiFailure> {
        let body = serde_json::to_vec(&self.body(task))
            .map_err(|_| AiFailure::Unavailable("the request could not be written".into()))?;
        let request = Request::post(format!("{}/chat/completions", self.base_url))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.api_key))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            // The base URL is the stage's setting; the message never includes the key.
            .map_err(|_| AiFailure::Unavailable("the provider's URL is not valid".into()))?;
        let response = self.http.request(request).await.map_err(|error| {
            AiFailure::Unavailable(format!("no answer: {}", without_source_url(&error)))
        })?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            429 => return Err(AiFailure::Throttled),
            401 | 403 => return Err(AiFailure::AccessDenied),
            _ => return Err(AiFailure::Unavailable(format!("answered {status}"))),
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|_| AiFailure::Unavailable("the answer broke off".into()))?
            .to_bytes();
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|_| AiFailure::Unavailable("an unreadable answer".into()))?;
        let choice = &answer["choices"][0];
        match choice["finish_reason"].as_str() {
            Some("length") => return Err(AiFailure::Truncated),
            Some("content_filter") => return Err(AiFailure::Refused),
            _ => {}
        }
        if choice["message"]["refusal"].is_string() {
            return Err(AiFailure::Refused);
        }
        let value = choice["message"]["content"]
            .as_str()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .filter(Value::is_object)
            .ok_or(AiFailure::NoStructuredOutput)?;
        Ok(JsonAnswer {
            value,
            model: answer["model"].as_str().unwrap_or(&self.model).to_owned(),
            input_tokens: answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            output_tokens: answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        })
    }
}

/// What went wrong, in words that name neither the URL nor the key.
fn without_source_url(error: &hyper_util::client::legacy::Error) -> String {
    if error.is_connect() {
        "the provider could not be reached".into()
    } else {
        "the connection failed".into()
    }
}

impl LanguageModel for OpenAiCompatible {
    fn model_id(&self) -> &str {
        &self.model
    }

    async fn complete_json(&self, task: &JsonTask) -> Result<JsonAnswer, AiFailure> {
        tokio::time::timeout(task.budget, self.call(task))
            .await
            .unwrap_or(Err(AiFailure::Timeout))
    }
}
