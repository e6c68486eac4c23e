//! The draft operations with a scripted model: answers, every fallback reason, the cache, the
//! hourly limit, and untrusted output held to the bounds.

use super::*;
use crate::adapters::language_model::ScriptedLanguageModel;
use crate::adapters::memory::{MemoryLedger, MemoryStore};
use crate::adapters::memory_projects::local_gate;
use crate::handlers::test_support::{error_code, json, request, seed_story, with_path};
use crate::http::respond;
use crate::ports::{AiFailure, JsonAnswer};
use lambda_http::http::Method;
use serde_json::{Value, json};

fn answer(value: Value) -> std::result::Result<JsonAnswer, AiFailure> {
    Ok(JsonAnswer {
        value,
        model: "test-model".into(),
        input_tokens: 900,
        output_tokens: 700,
    })
}

fn good_story() -> Value {
    json!({
        "title": "Export the story tree as CSV",
        "asA": "product manager", "iWant": "to export the story tree as CSV",
        "soThat": "I can share progress with stakeholders", "description": "One file per export.",
        "components": ["export"], "storyPoint": 3,
        "acceptanceTests": [
            {"title": "Three stories", "given": ["3 stories exist"],
             "when": ["the PM exports the tree"], "then": ["a CSV with 3 rows is downloaded"]},
            {"title": "Nothing to export", "given": ["no stories exist"],
             "when": ["the PM exports the tree"], "then": ["the message \"Nothing to export\" is shown"]}
        ]
    })
}

fn story_request(body: &str) -> Request {
    request(Method::POST, "/story-drafts", body)
}

#[tokio::test]
async fn an_idea_becomes_a_model_draft_with_its_invest_check_and_is_cached() {
    let store = MemoryStore::new();
    let model = ScriptedLanguageModel::answering(vec![answer(good_story())]);
    let operation = DraftStory::new(
        store.clone(),
        model.clone(),
        MemoryLedger::default(),
        local_gate(),
    );
    let body = r#"{"idea":"Let product managers export the story tree as CSV"}"#;
    let first = respond(&operation, story_request(body)).await;
    assert_eq!(first.status(), 200);
    let drafted = json(&first);
    assert_eq!(drafted["source"], "ai");
    assert_eq!(drafted["model"], "test-model");
    assert_eq!(drafted["promptVersion"], "story-draft/1");
    assert_eq!(drafted["draft"]["storyPoint"], 3);
    assert_eq!(
        drafted["draft"]["acceptanceTests"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(drafted["invest"]["score"].is_u64());
    let asked = model.asked();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].user.starts_with("<idea>\nLet product managers"));
    assert_eq!(asked[0].system, STORY_SYSTEM_PROMPT);

    let again = json(&respond(&operation, story_request(body)).await);
    assert_eq!(again["cached"], true);
    assert_eq!(
        model.asked().len(),
        1,
        "the same idea is answered from the cache"
    );
    let regenerated = json(
        &respond(
            &operation,
            story_request(
                r#"{"idea":"Let product managers export the story tree as CSV","regenerate":true}"#,
            ),
        )
        .await,
    );
    assert_eq!(regenerated["source"], "ai");
    assert_eq!(model.asked().len(), 2, "regenerate asks again");
}

#[tokio::test]
async fn every_failure_answers_the_template_and_says_why() {
    let cases = [
        (Err(AiFailure::Disabled), "disabled"),
        (Err(AiFailure::Timeout), "timeout"),
        (Err(AiFailure::Throttled), "throttled"),
        (Err(AiFailure::Truncated), "truncated"),
        (Err(AiFailure::NoStructuredOutput), "no_structured_output"),
        (Err(AiFailure::Unavailable("503".into())), "unavailable"),
        (answer(json!({"title": "x"})), "invalid_output"),
        (
            answer({
                let mut bad = good_story();
                bad["storyPoint"] = json!(4);
                bad
            }),
            "invalid_output",
        ),
    ];
    let store = MemoryStore::new();
    let parent = seed_story(&store, "Reporting", None).await;
    for (scripted, reason) in cases {
        let operation = DraftStory::new(
            store.clone(),
            ScriptedLanguageModel::answering(vec![scripted]),
            MemoryLedger::default(),
            local_gate(),
        );
        let body = format!(
            r#"{{"idea":"Export the tree as CSV. With ids.","parentId":{}}}"#,
            parent.id
        );
        let response = respond(&operation, story_request(&body)).await;
        assert_eq!(response.status(), 200, "{reason}");
        let drafted = json(&response);
        assert_eq!(drafted["source"], "template", "{reason}");
        assert_eq!(drafted["fallbackReason"], reason);
        assert_eq!(drafted["draft"]["title"], "Export the tree as CSV");
        assert!(drafted.get("model").is_none());
    }
}

#[tokio::test]
async fn ideas_are_checked_and_the_hourly_limit_holds() {
    let store = MemoryStore::new();
    let operation = DraftStory::new(
        store.clone(),
        ScriptedLanguageModel::answering(vec![Err(AiFailure::Disabled)]),
        MemoryLedger::default(),
        local_gate(),
    );
    let short = respond(&operation, story_request(r#"{"idea":"CSV"}"#)).await;
    assert_eq!(short.status(), 400);
    assert_eq!(
        json(&short)["error"]["details"]["fields"][0]["code"],
        "TOO_SHORT"
    );
    let long = format!(r#"{{"idea":"{}"}}"#, "word ".repeat(300));
    assert_eq!(
        json(&respond(&operation, story_request(&long)).await)["error"]["details"]["fields"][0]["code"],
        "TOO_LONG"
    );
    let orphan = respond(
        &operation,
        story_request(r#"{"idea":"export the tree please","parentId":77}"#),
    )
    .await;
    assert_eq!(error_code(&orphan), "PARENT_NOT_FOUND");
    for _ in 0..STORY_DRAFTS_PER_HOUR {
        let ok = respond(
            &operation,
            story_request(r#"{"idea":"export the tree please"}"#),
        )
        .await;
        assert_eq!(ok.status(), 200);
    }
    let limited = respond(
        &operation,
        story_request(r#"{"idea":"export the tree please"}"#),
    )
    .await;
    assert_eq!(limited.status(), 429);
    assert_eq!(error_code(&limited), "RATE_LIMITED");
    assert!(limited.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn test_drafts_read_the_story_and_fall_back_to_its_narrative() {
    let store = MemoryStore::new();
    let story = seed_story(&store, "Export", None).await;
    let tests = json!({"acceptanceTests": [good_story()["acceptanceTests"][0].clone()]});
    let model = ScriptedLanguageModel::answering(vec![answer(tests)]);
    let operation = DraftTests::new(
        store.clone(),
        store.clone(),
        model.clone(),
        MemoryLedger::default(),
        local_gate(),
    );
    let path = |body: &str| {
        with_path(
            request(Method::POST, "/x", body),
            "id",
            &story.id.to_string(),
        )
    };
    let drafted = json(&respond(&operation, path(r#"{"idea":"an empty story tree"}"#)).await);
    assert_eq!(drafted["source"], "ai");
    assert_eq!(drafted["acceptanceTests"][0]["title"], "Three stories");
    assert_eq!(drafted["acceptanceTests"][0]["gwtHealth"]["healthy"], true);
    assert!(
        model.asked()[0]
            .user
            .contains("<idea>\nan empty story tree\n</idea>")
    );

    let off = DraftTests::new(
        store.clone(),
        store.clone(),
        ScriptedLanguageModel::answering(vec![Err(AiFailure::Disabled)]),
        MemoryLedger::default(),
        local_gate(),
    );
    let template = json(&respond(&off, path("")).await);
    assert_eq!(template["source"], "template");
    assert_eq!(template["fallbackReason"], "disabled");
    assert_eq!(template["acceptanceTests"].as_array().unwrap().len(), 1);
    let missing = respond(
        &off,
        with_path(request(Method::POST, "/x", ""), "id", "999"),
    )
    .await;
    assert_eq!(error_code(&missing), "STORY_NOT_FOUND");
}
