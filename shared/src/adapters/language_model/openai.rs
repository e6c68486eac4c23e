//! An OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM): one POST with a JSON
//! schema as the response format, the answer read from the first choice. The port needs one
//! call, not a client library: `adapters::https` (the system's roots, so any provider's
//! certificate authority).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::http::{Request, header};
use serde_json::{Value, json};

use crate::ports::{AiFailure, JsonAnswer, JsonTask, LanguageModel};

#[derive(Clone)]
pub struct OpenAiCompatible {
    http: crate::adapters::https::HttpsClient,
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
        let http = crate::adapters::https::client_for(base_url)?;
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
