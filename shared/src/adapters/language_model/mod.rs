//! The language model a stage is configured with, behind one type: Amazon Bedrock, an
//! OpenAI-compatible server, or none (`off`, the default: every feature answers from its
//! template). Each function that drafts builds its model once, at cold start.

pub mod bedrock;
pub mod openai;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::{AiConfig, AiProvider};
use crate::ports::{AiFailure, JsonAnswer, JsonTask, LanguageModel};

#[derive(Debug, Clone)]
pub enum ConfiguredLanguageModel {
    Off,
    Bedrock(bedrock::BedrockModel),
    /// Boxed: hyper's pooled client is large, and the enum lives once per process.
    OpenAi(Box<openai::OpenAiCompatible>),
}

impl ConfiguredLanguageModel {
    /// Builds the model. The OpenAI-compatible key is read now (from Secrets Manager in AWS), so
    /// a missing secret stops the cold start instead of failing every draft.
    pub async fn connect(
        config: &AiConfig,
        sdk: &aws_config::SdkConfig,
        budget: Duration,
    ) -> crate::error::Result<Self> {
        match &config.provider {
            AiProvider::Off => Ok(Self::Off),
            AiProvider::Bedrock { model } => Ok(Self::Bedrock(bedrock::BedrockModel::new(
                sdk, model, budget,
            ))),
            AiProvider::OpenAi {
                base_url,
                model,
                api_key,
            } => {
                let key = crate::adapters::code_host::GitHubTokenSource::new(
                    api_key.clone(),
                    sdk,
                    crate::adapters::code_host::TOKEN_TTL,
                )
                .get(false)
                .await?;
                let model =
                    openai::OpenAiCompatible::new(base_url, model, &key).map_err(|error| {
                        crate::error::Error::Internal(format!(
                            "the system's certificate roots could not be read: {error}"
                        ))
                    })?;
                Ok(Self::OpenAi(Box::new(model)))
            }
        }
    }
}

impl LanguageModel for ConfiguredLanguageModel {
    fn model_id(&self) -> &str {
        match self {
            Self::Off => "off",
            Self::Bedrock(model) => model.model_id(),
            Self::OpenAi(model) => model.model_id(),
        }
    }

    async fn complete_json(&self, task: &JsonTask) -> Result<JsonAnswer, AiFailure> {
        match self {
            Self::Off => Err(AiFailure::Disabled),
            Self::Bedrock(model) => model.complete_json(task).await,
            Self::OpenAi(model) => model.complete_json(task).await,
        }
    }
}

/// A model for tests: answers from a script, one entry per call (the last one repeats), and
/// keeps what it was asked.
#[derive(Debug, Clone, Default)]
pub struct ScriptedLanguageModel {
    script: Arc<Mutex<Vec<Result<JsonAnswer, AiFailure>>>>,
    asked: Arc<Mutex<Vec<JsonTask>>>,
}

impl ScriptedLanguageModel {
    pub fn answering(script: Vec<Result<JsonAnswer, AiFailure>>) -> Self {
        Self {
            script: Arc::new(Mutex::new(script)),
            asked: Arc::default(),
        }
    }

    pub fn asked(&self) -> Vec<JsonTask> {
        self.asked
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

impl LanguageModel for ScriptedLanguageModel {
    fn model_id(&self) -> &str {
        "scripted"
    }

    async fn complete_json(&self, task: &JsonTask) -> Result<JsonAnswer, AiFailure> {
        self.asked
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(task.clone());
        let mut script = self
            .script
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match script.len() {
            0 => Err(AiFailure::Disabled),
            1 => script[0].clone(),
            _ => script.remove(0),
        }
    }
}
