//! The model's part of a draft, shared by both draft operations: the caller's hourly allowance,
//! the cache of earlier answers, the call itself, and the answer held to the feature's bounds.

use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ports::{Allowance, AssistLedger, JsonTask, LanguageModel};

/// How long an AI answer is reused for the same input.
const CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// Where a draft came from, shown on it: a model's answer, or the template and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub prompt_version: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

/// The model's part of a draft, shared by both operations: allowance, cache, call, bounds.
pub struct Assistant<M, L> {
    pub(super) model: M,
    pub(super) ledger: L,
}

/// One request for a model's draft, with who asks and how often they may.
pub(super) struct Ask {
    pub(super) caller: String,
    pub(super) limit_per_hour: u32,
    pub(super) regenerate: bool,
    pub(super) prompt_version: &'static str,
    pub(super) task: JsonTask,
}

impl<M: LanguageModel, L: AssistLedger> Assistant<M, L> {
    pub fn new(model: M, ledger: L) -> Self {
        Self { model, ledger }
    }

    /// The model's answer read by `read`, or why there is none.
    /// The draft: the model's answer read by `read`, or `template` with the reason why not.
    pub(super) async fn draft<T>(
        &self,
        request: Ask,
        read: impl Fn(Value) -> std::result::Result<T, String>,
        template: impl FnOnce() -> T,
    ) -> Result<(T, Provenance)> {
        let prompt_version = request.prompt_version;
        Ok(match self.answer(request, read).await? {
            Ok(answered) => answered,
            Err(reason) => (template(), template_provenance(reason, prompt_version)),
        })
    }

    /// The model's answer read by `read`, or why there is none.
    async fn answer<T>(
        &self,
        request: Ask,
        read: impl Fn(Value) -> std::result::Result<T, String>,
    ) -> Result<std::result::Result<(T, Provenance), &'static str>> {
        let Ask {
            caller,
            limit_per_hour,
            regenerate,
            prompt_version,
            task,
        } = request;
        let operation = task.operation;
        if let Allowance::Exhausted {
            retry_after_seconds,
        } = self
            .ledger
            .take_allowance(&caller, operation, limit_per_hour, Utc::now())
            .await?
        {
            return Err(Error::RateLimited {
                operation,
                limit: limit_per_hour,
                retry_after_seconds,
            });
        }
        let key = cache_key(operation, prompt_version, self.model.model_id(), &task.user);
        if !regenerate
            && let Some(hit) = self.ledger.cached(&key).await?
            && let Ok(value) = read(hit["value"].clone())
        {
            crate::telemetry::count_ai_outcome(operation, None, (0, 0));
            return Ok(Ok((
                value,
                Provenance {
                    source: "ai",
                    fallback_reason: None,
                    model: hit["model"].as_str().map(str::to_owned),
                    prompt_version,
                    cached: true,
                },
            )));
        }
        let answer = match self.model.complete_json(&task).await {
            Ok(answer) => answer,
            Err(failure) => {
                if let crate::ports::AiFailure::Unavailable(cause) = &failure {
                    tracing::warn!(operation, %cause, "the model did not answer");
                }
                crate::telemetry::count_ai_outcome(operation, Some(failure.reason()), (0, 0));
                return Ok(Err(failure.reason()));
            }
        };
        let tokens = (answer.input_tokens, answer.output_tokens);
        match read(answer.value.clone()) {
            Ok(value) => {
                crate::telemetry::count_ai_outcome(operation, None, tokens);
                let entry = json!({"model": answer.model, "value": answer.value});
                self.ledger
                    .remember(&key, &entry, CACHE_TTL, Utc::now())
                    .await?;
                Ok(Ok((
                    value,
                    Provenance {
                        source: "ai",
                        fallback_reason: None,
                        model: Some(answer.model),
                        prompt_version,
                        cached: false,
                    },
                )))
            }
            Err(problem) => {
                // The problem names fields, never the model's text.
                tracing::warn!(operation, %problem, "the model's answer broke the bounds");
                crate::telemetry::count_ai_outcome(operation, Some("invalid_output"), tokens);
                Ok(Err("invalid_output"))
            }
        }
    }
}

fn cache_key(operation: &str, prompt_version: &str, model: &str, user: &str) -> String {
    let mut hash = Sha256::new();
    for part in [operation, prompt_version, model, user] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("draft#{}", hex::encode(hash.finalize()))
}

fn template_provenance(reason: &'static str, prompt_version: &'static str) -> Provenance {
    Provenance {
        source: "template",
        fallback_reason: Some(reason),
        model: None,
        prompt_version,
        cached: false,
    }
}
