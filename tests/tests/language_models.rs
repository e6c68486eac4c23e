//! The language-model adapters against wiremock servers speaking the providers' documented
//! JSON: Bedrock's Converse (`POST /model/{modelId}/converse`, errors by `x-amzn-errortype`) and
//! an OpenAI-compatible chat-completions server. A good answer, throttling, a missing or
//! malformed tool call, truncation, and an answer slower than the budget.

use std::time::Duration;

use aipm::adapters::language_model::bedrock::BedrockModel;
use aipm::adapters::language_model::openai::OpenAiCompatible;
use aipm::ports::{AiFailure, JsonTask, LanguageModel};
use aipm::rules::drafts;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const MODEL: &str = "amazon.nova-lite-v1:0";

fn task(budget: Duration) -> JsonTask {
    JsonTask {
        operation: "story-draft",
        system: drafts::STORY_SYSTEM_PROMPT,
        user: drafts::story_user_message("Export the story tree as CSV", None),
        tool_name: "submit_story_draft",
        tool_description: "Submit the drafted user story.",
        schema: drafts::story_schema(),
        max_tokens: 1_200,
        temperature: 0.3,
        budget,
    }
}

fn draft() -> Value {
    json!({"title": "Export as CSV", "asA": "product manager", "iWant": "a CSV export",
           "soThat": "I can share progress", "acceptanceTests": [{"title": "Three rows",
           "given": ["3 stories"], "when": ["I export"], "then": ["a CSV with 3 rows"]}]})
}

fn bedrock(server: &MockServer) -> BedrockModel {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(aipm::runtime::aws_https_client())
        .endpoint_url(server.uri())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(
            aws_sdk_bedrockruntime::config::retry::RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(10)),
        )
        .build();
    BedrockModel::with_client(aws_sdk_bedrockruntime::Client::from_conf(config), MODEL)
}

fn converse(stop: &str, content: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 900, "outputTokens": 700, "totalTokens": 1600},
        "metrics": {"latencyMs": 1200}
    }))
}

fn converse_route() -> wiremock::matchers::PathRegexMatcher {
    // The SDK percent-encodes the model id's colon.
    path_regex(r"^/model/[^/]+/converse$")
}

#[tokio::test]
async fn bedrock_forces_the_tool_and_reads_its_input() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(converse_route())
        .and(body_partial_json(json!({
            "toolConfig": {"toolChoice": {"tool": {"name": "submit_story_draft"}}},
            "inferenceConfig": {"maxTokens": 1200}
        })))
        .respond_with(converse(
            "tool_use",
            json!([{"toolUse": {"toolUseId": "t1", "name": "submit_story_draft", "input": draft()}}]),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let answer = bedrock(&server)
        .complete_json(&task(Duration::from_secs(5)))
        .await
        .expect("an answer");
    assert_eq!(answer.value, draft());
    assert_eq!((answer.input_tokens, answer.output_tokens), (900, 700));
    assert_eq!(answer.model, MODEL);
    let request = &server.received_requests().await.unwrap()[0];
    assert!(
        request.url.path().contains("amazon.nova-lite-v1%3A0"),
        "{}",
        request.url.path()
    );
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["system"][0]["text"], drafts::STORY_SYSTEM_PROMPT);
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
        drafts::story_schema()
    );
    assert!(
        body["messages"][0]["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("<idea>")
    );
}

#[tokio::test]
async fn bedrock_failures_become_reasons() {
    let cases: Vec<(ResponseTemplate, u64, AiFailure)> = vec![
        (
            ResponseTemplate::new(429)
                .insert_header("x-amzn-errortype", "ThrottlingException")
                .set_body_json(json!({"message": "Too many requests"})),
            2,
            AiFailure::Throttled,
        ),
        (
            ResponseTemplate::new(403)
                .insert_header("x-amzn-errortype", "AccessDeniedException")
                .set_body_json(json!({"message": "no access to the model"})),
            1,
            AiFailure::AccessDenied,
        ),
        (
            converse("max_tokens", json!([{"text": "{\"title\": \"Exp"}])),
            1,
            AiFailure::Truncated,
        ),
        (
            converse("end_turn", json!([{"text": "Here is your story: ..."}])),
            1,
            AiFailure::NoStructuredOutput,
        ),
        (
            converse(
                "tool_use",
                json!([{"toolUse": {"toolUseId": "t1", "name": "submit_story_draft", "input": "not an object"}}]),
            ),
            1,
            AiFailure::NoStructuredOutput,
        ),
        (
            converse(
                "tool_use",
                json!([{"toolUse": {"toolUseId": "t1", "name": "another_tool", "input": {}}}]),
            ),
            1,
            AiFailure::NoStructuredOutput,
        ),
    ];
    for (response, calls, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(converse_route())
            .respond_with(response)
            .expect(calls)
            .mount(&server)
            .await;
        let failure = bedrock(&server)
            .complete_json(&task(Duration::from_secs(5)))
            .await
            .expect_err("a failure");
        assert_eq!(failure, expected);
    }
}

#[tokio::test]
async fn a_slow_model_is_cut_off_at_the_budget() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(converse_route())
        .respond_with(converse("tool_use", json!([])).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let failure = bedrock(&server)
        .complete_json(&task(Duration::from_millis(300)))
        .await
        .expect_err("too slow");
    assert_eq!(failure, AiFailure::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

fn openai(server: &MockServer) -> OpenAiCompatible {
    OpenAiCompatible::new(&format!("{}/v1", server.uri()), "gpt-test", "sk-test-key")
        .expect("the system's roots are readable")
}

fn completion(finish: &str, content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test-2026",
        "choices": [{"index": 0, "finish_reason": finish,
                     "message": {"role": "assistant", "content": content, "refusal": null}}],
        "usage": {"prompt_tokens": 800, "completion_tokens": 600, "total_tokens": 1400}
    }))
}

#[tokio::test]
async fn openai_compatible_servers_answer_through_the_json_schema() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-test-key"))
        .and(body_partial_json(json!({
            "model": "gpt-test", "max_tokens": 1200,
            "response_format": {"type": "json_schema", "json_schema": {"name": "submit_story_draft", "strict": true}}
        })))
        .respond_with(completion("stop", &draft().to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let answer = openai(&server)
        .complete_json(&task(Duration::from_secs(5)))
        .await
        .expect("an answer");
    assert_eq!(answer.value, draft());
    assert_eq!(answer.model, "gpt-test-2026");
    assert_eq!((answer.input_tokens, answer.output_tokens), (800, 600));
}

#[tokio::test]
async fn openai_compatible_failures_become_reasons() {
    let cases = vec![
        (
            ResponseTemplate::new(429).set_body_json(json!({"error": {"message": "rate"}})),
            AiFailure::Throttled,
        ),
        (
            ResponseTemplate::new(401).set_body_json(json!({"error": {"message": "key"}})),
            AiFailure::AccessDenied,
        ),
        (
            completion("length", "{\"title\": \"Exp"),
            AiFailure::Truncated,
        ),
        (
            completion("stop", "Sure! Here is a story."),
            AiFailure::NoStructuredOutput,
        ),
        (completion("content_filter", ""), AiFailure::Refused),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({"choices": []}))
                .set_delay(Duration::from_secs(3)),
            AiFailure::Timeout,
        ),
    ];
    for (response, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(response)
            .mount(&server)
            .await;
        let failure = openai(&server)
            .complete_json(&task(Duration::from_millis(500)))
            .await
            .expect_err("a failure");
        assert_eq!(failure, expected);
    }
}

/// An `https://` provider (OpenAI's own) is spoken to over TLS: the adapter opens with a TLS
/// ClientHello, not plain HTTP, and a server that is not one ends as "unavailable", never with the
/// key in the reason.
#[tokio::test]
async fn an_https_provider_is_spoken_to_over_tls() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let first_bytes = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut bytes = [0u8; 3];
        socket.read_exact(&mut bytes).await.unwrap();
        bytes
    });
    let model = OpenAiCompatible::new(
        &format!("https://127.0.0.1:{port}/v1"),
        "gpt-test",
        "sk-secret",
    )
    .expect("the system's roots are readable");
    let failure = model
        .complete_json(&task(Duration::from_secs(5)))
        .await
        .expect_err("no TLS server answers");
    // A TLS handshake record (0x16), version 3.x.
    assert_eq!(first_bytes.await.unwrap()[..2], [0x16, 0x03]);
    let AiFailure::Unavailable(reason) = failure else {
        panic!("{failure:?}")
    };
    assert!(!reason.contains("sk-secret"), "{reason}");
}
