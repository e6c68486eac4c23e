//! Amazon Bedrock's Converse API: the answer's JSON schema is the input schema of a tool the
//! model is forced to call, so the answer arrives as that call's input. The model id is
//! configuration (`AIPM_AI_MODEL`), never a constant here.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message,
    SpecificToolChoice, StopReason, SystemContentBlock, Tool, ToolChoice, ToolConfiguration,
    ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::{Document, Number};
use serde_json::Value;

use crate::ports::{AiFailure, JsonAnswer, JsonTask, LanguageModel};

#[derive(Debug, Clone)]
pub struct BedrockModel {
    client: Client,
    model_id: String,
}

/// Tool schemas and answers cross the SDK as `Document`s, which have no serde of their own.
pub fn to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(flag) => Document::Bool(*flag),
        Value::Number(number) => match (number.as_u64(), number.as_i64(), number.as_f64()) {
            (Some(unsigned), _, _) => Document::Number(Number::PosInt(unsigned)),
            (_, Some(signed), _) => Document::Number(Number::NegInt(signed)),
            (_, _, float) => Document::Number(Number::Float(float.unwrap_or_default())),
        },
        Value::String(text) => Document::String(text.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(fields) => Document::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), to_document(value)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

pub fn to_value(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(flag) => Value::Bool(*flag),
        Document::Number(Number::PosInt(unsigned)) => Value::from(*unsigned),
        Document::Number(Number::NegInt(signed)) => Value::from(*signed),
        Document::Number(Number::Float(float)) => {
            serde_json::Number::from_f64(*float).map_or(Value::Null, Value::Number)
        }
        Document::String(text) => Value::String(text.clone()),
        Document::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Document::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| (key.clone(), to_value(value)))
                .collect(),
        ),
    }
}

fn failure_of<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> AiFailure {
    match error {
        SdkError::TimeoutError(_) => AiFailure::Timeout,
        SdkError::ServiceError(context) => match context.err().code().unwrap_or_default() {
            "ThrottlingException" | "ServiceQuotaExceededException" => AiFailure::Throttled,
            "AccessDeniedException" | "UnrecognizedClientException" => AiFailure::AccessDenied,
            "ModelTimeoutException" => AiFailure::Timeout,
            code => AiFailure::Unavailable(format!("Bedrock answered {code}")),
        },
        _ => AiFailure::Unavailable("Bedrock could not be reached".into()),
    }
}

impl BedrockModel {
    /// A client with time limits for model calls (longer than the tables' 3 s per attempt),
    /// two attempts; `budget` bounds the whole call.
    pub fn new(sdk: &aws_config::SdkConfig, model_id: &str, budget: Duration) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(budget.mul_f32(0.6))
            .operation_timeout(budget)
            .build();
        let config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
            .build();
        Self {
            client: Client::from_conf(config),
            model_id: model_id.to_owned(),
        }
    }

    /// For tests: a client made elsewhere (pointed at a mock).
    pub fn with_client(client: Client, model_id: &str) -> Self {
        Self {
            client,
            model_id: model_id.to_owned(),
        }
    }

    async fn call(&self, task: &JsonTask) -> Result<JsonAnswer, AiFailure> {
        let tool = ToolSpecification::builder()
            .name(task.tool_name)
            .description(task.tool_description)
            .input_schema(ToolInputSchema::Json(to_document(&task.schema)))
            .build()
            .map_err(|error| AiFailure::Unavailable(error.to_string()))?;
        let choice = SpecificToolChoice::builder()
            .name(task.tool_name)
            .build()
            .map_err(|error| AiFailure::Unavailable(error.to_string()))?;
        let tools = ToolConfiguration::builder()
            .tools(Tool::ToolSpec(tool))
            .tool_choice(ToolChoice::Tool(choice))
            .build()
            .map_err(|error| AiFailure::Unavailable(error.to_string()))?;
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(task.user.clone()))
            .build()
            .map_err(|error| AiFailure::Unavailable(error.to_string()))?;
        let output = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(task.system.to_owned()))
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(i32::try_from(task.max_tokens).unwrap_or(i32::MAX))
                    .temperature(task.temperature)
                    .build(),
            )
            .tool_config(tools)
            .send()
            .await
            .map_err(|error| failure_of(&error))?;
        match output.stop_reason() {
            StopReason::ToolUse => {}
            StopReason::MaxTokens => return Err(AiFailure::Truncated),
            StopReason::ContentFiltered | StopReason::GuardrailIntervened => {
                return Err(AiFailure::Refused);
            }
            _ => return Err(AiFailure::NoStructuredOutput),
        }
        let input = match output.output() {
            Some(ConverseOutput::Message(message)) => {
                message.content().iter().find_map(|block| match block {
                    ContentBlock::ToolUse(used) if used.name() == task.tool_name => {
                        Some(to_value(used.input()))
                    }
                    _ => None,
                })
            }
            _ => None,
        }
        .filter(Value::is_object)
        .ok_or(AiFailure::NoStructuredOutput)?;
        let usage = output.usage();
        Ok(JsonAnswer {
            value: input,
            model: self.model_id.clone(),
            input_tokens: usage.map_or(0, |usage| u64::try_from(usage.input_tokens()).unwrap_or(0)),
            output_tokens: usage
                .map_or(0, |usage| u64::try_from(usage.output_tokens()).unwrap_or(0)),
        })
    }
}

impl LanguageModel for BedrockModel {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    async fn complete_json(&self, task: &JsonTask) -> Result<JsonAnswer, AiFailure> {
        tokio::time::timeout(task.budget, self.call(task))
            .await
            .unwrap_or(Err(AiFailure::Timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_survives_the_round_trip_through_documents() {
        let value = json!({"a": [1, -2, 2.5, "x", null, true], "b": {"c": {}}});
        assert_eq!(to_value(&to_document(&value)), value);
    }
}
