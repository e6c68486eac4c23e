//! An OpenAI-compatible chat-completions server (OpenAI, Ollama, vLLM): one POST with a JSON
//! schema as the response format, the answer read from the first choice. Plain reqwest: the port
//! needs one call, not a client library.

use std::time::Duration;

use serde_json::{Value, json};

use crate::ports::{AiFailure, JsonAnswer, JsonTask, LanguageModel};

#[derive(Clone)]
pub struct OpenAiCompatible {
    http: reqwest::Client,
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
    pub fn new(base_url: &str, model: &str, api_key: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key: api_key.to_owned(),
        }
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
        let response = self
            .http
            .post(format!("{}/chat/completions", self.base_url))
            .bearer_auth(&self.api_key)
            .json(&self.body(task))
            .send()
            .await
            .map_err(|error| {
                AiFailure::Unavailable(format!("no answer: {}", error.without_url()))
            })?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            429 => return Err(AiFailure::Throttled),
            401 | 403 => return Err(AiFailure::AccessDenied),
            _ => return Err(AiFailure::Unavailable(format!("answered {status}"))),
        }
        let answer: Value = response
            .json()
            .await
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
