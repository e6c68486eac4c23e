//! AI drafts end to end on the stack `scripts/local-up` starts, with an OpenAI-compatible
//! wiremock server as the stage's model: both draft routes answered by the model, the answer
//! reused for the same idea, an answer outside the bounds replaced by the template, the hourly
//! limit, and the draft marked as the model's in the browser.

use aipm_tests::LocalUp;
use aipm_tests::browser::Browser;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn completion(content: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": "mock-model-1",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content.to_string(), "refusal": null}}],
        "usage": {"prompt_tokens": 900, "completion_tokens": 700, "total_tokens": 1600}
    }))
}

fn story_answer() -> Value {
    json!({
        "title": "Export the story tree as CSV",
        "asA": "product manager", "iWant": "to export the story tree as a CSV file",
        "soThat": "I can share progress with stakeholders", "description": "One row per story.",
        "components": ["export"], "storyPoint": 3,
        "acceptanceTests": [
            {"title": "Three stories", "given": ["3 stories exist"], "when": ["the PM exports the tree"],
             "then": ["a CSV with 3 rows is downloaded"]},
            {"title": "Nothing to export", "given": ["no stories exist"], "when": ["the PM exports the tree"],
             "then": ["the message \"Nothing to export\" is shown"]}
        ]
    })
}

fn review_answer() -> Value {
    let verdicts = [
        ("independent", "pass"),
        ("negotiable", "pass"),
        ("valuable", "pass"),
        ("estimable", "concern"),
        ("small", "pass"),
        ("testable", "fail"),
    ];
    json!({
        "criteria": verdicts.iter().map(|(criterion, verdict)| json!({
            "criterion": criterion, "verdict": verdict,
            "message": format!("The story is {verdict} on {criterion}."),
            "suggestion": "Name the columns of the CSV."
        })).collect::<Vec<_>>(),
        "summary": "Valuable and small; say which columns the CSV has."
    })
}

async fn get(stack: &LocalUp, route: &str) -> Value {
    reqwest::get(format!("{}{route}", stack.url))
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("JSON")
}

async fn post(stack: &LocalUp, route: &str, body: Value) -> (u16, Value, Option<String>) {
    let response = reqwest::Client::new()
        .post(format!("{}{route}", stack.url))
        .json(&body)
        .send()
        .await
        .expect("the API answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        retry_after,
    )
}

#[tokio::test]
async fn drafts_come_from_the_stages_model_within_its_bounds_and_limits() {
    let model = MockServer::start().await;
    // The story prompt gets a good story; an idea about "sabotage" gets an answer that breaks
    // the bounds; the test prompt gets tests.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("sabotage"))
        .respond_with(completion(&json!({"title": "x", "storyPoint": 4})))
        .with_priority(1)
        .mount(&model)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("submit_story_draft"))
        .respond_with(completion(&story_answer()))
        // Once: the same idea again, from the API or the browser, is answered from the cache.
        .expect(1)
        .mount(&model)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("submit_acceptance_tests"))
        .respond_with(completion(
            &json!({"acceptanceTests": [story_answer()["acceptanceTests"][1].clone()]}),
        ))
        .mount(&model)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains("submit_invest_review"))
        .respond_with(completion(&review_answer()))
        .expect(1)
        .mount(&model)
        .await;
    let base_url = format!("{}/v1", model.uri());
    let mut stack = LocalUp::start_with(
        "ai-drafts",
        &[
            ("AIPM_LOCAL_WORKER", "off"),
            ("AIPM_AI_PROVIDER", "openai"),
            ("AIPM_AI_BASE_URL", base_url.as_str()),
            ("AIPM_AI_MODEL", "mock-model"),
            ("AIPM_AI_API_KEY", "sk-local-test"),
        ],
    )
    .await;

    let idea = json!({"idea": "Product managers export the story tree as CSV"});
    let (status, drafted, _) = post(&stack, "/story-drafts", idea.clone()).await;
    assert_eq!(status, 200, "{drafted}");
    assert_eq!(drafted["source"], "ai");
    assert_eq!(drafted["model"], "mock-model-1");
    assert_eq!(
        drafted["draft"]["acceptanceTests"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(drafted["invest"]["warnings"].is_array());
    let (_, again, _) = post(&stack, "/story-drafts", idea.clone()).await;
    assert_eq!(
        again["cached"], true,
        "the same idea is not sent twice: {again}"
    );

    let (_, broken, _) = post(
        &stack,
        "/story-drafts",
        json!({"idea": "sabotage the export of stories"}),
    )
    .await;
    assert_eq!(broken["source"], "template");
    assert_eq!(broken["fallbackReason"], "invalid_output");
    assert_eq!(broken["draft"]["title"], "sabotage the export of stories");

    // Create the story from the draft, then ask for tests for it.
    let (status, story, _) = post(
        &stack,
        "/stories",
        json!({
            "title": drafted["draft"]["title"], "asA": drafted["draft"]["asA"],
            "iWant": drafted["draft"]["iWant"], "soThat": drafted["draft"]["soThat"]
        }),
    )
    .await;
    assert_eq!(status, 201, "{story}");
    let id = story["id"].as_u64().expect("an id");
    let (status, tests, _) = post(
        &stack,
        &format!("/stories/{id}/test-drafts"),
        json!({"idea": "nothing to export"}),
    )
    .await;
    assert_eq!(status, 200, "{tests}");
    assert_eq!(tests["source"], "ai");
    assert_eq!(tests["acceptanceTests"][0]["title"], "Nothing to export");
    assert_eq!(tests["acceptanceTests"][0]["gwtHealth"]["healthy"], true);

    // The AI review runs through its queue and lands on the story, scored by AIPM.
    let (status, pending, _) =
        post(&stack, &format!("/stories/{id}/invest-review"), json!(null)).await;
    assert_eq!(
        (status, pending["status"].as_str()),
        (202, Some("pending")),
        "{pending}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let reviewed = loop {
        let story = get(&stack, &format!("/stories/{id}")).await;
        if story["aiReview"]["status"] == "done" {
            break story;
        }
        assert!(std::time::Instant::now() < deadline, "no review: {story}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(
        reviewed["aiReview"]["score"], 75,
        "pass ×4, concern, fail: (4 + ½) / 6"
    );
    assert_eq!(
        reviewed["aiReview"]["criteria"].as_array().map(Vec::len),
        Some(6)
    );
    assert_eq!(reviewed["aiReview"]["model"], "mock-model-1");
    assert_eq!(reviewed["aiReviewStale"], false);
    let (status, current, _) =
        post(&stack, &format!("/stories/{id}/invest-review"), json!(null)).await;
    assert_eq!((status, current["status"].as_str()), (200, Some("current")));
    let changed = reqwest::Client::new()
        .patch(format!("{}/stories/{id}", stack.url))
        .json(&json!({"soThat": "the whole team sees progress in one file"}))
        .send()
        .await
        .expect("the API answers");
    assert_eq!(changed.status().as_u16(), 200);
    let stale = get(&stack, &format!("/stories/{id}")).await;
    assert_eq!(stale["aiReviewStale"], true);

    // The browser shows whose words a draft holds.
    let browser = Browser::start(&stack.url, "ai-drafts", 1280, 900).await;
    browser.open("/#/drafts/new").await;
    browser
        .type_into(
            "#story-idea",
            "Product managers export the story tree as CSV",
        )
        .await;
    browser.click_button(".idea-form", "Draft story").await;
    browser
        .wait_for_text(".draft-form .provenance", "Written by mock-model-1")
        .await;
    browser
        .wait_for_text(".draft-form .badge.ai", "AI draft")
        .await;
    assert_eq!(
        browser.value_of("#draft-title").await,
        "Export the story tree as CSV"
    );
    browser.screenshot("ai-draft").await;
    browser.open(&format!("/#/stories/{id}")).await;
    browser
        .wait_for_text(".ai-review", "changed since this review")
        .await;
    browser
        .wait_for_text(".ai-review .verdicts", "testable: fail")
        .await;
    browser.wait_for_text(".ai-review h3", "75/100").await;
    browser.screenshot("ai-review").await;
    browser.close().await;

    // 30 story drafts an hour per person: the 31st is refused with when to come back.
    let mut limited = None;
    for attempt in 0..40 {
        let (status, body, retry_after) = post(&stack, "/story-drafts", idea.clone()).await;
        if status == 429 {
            limited = Some((attempt, body, retry_after));
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    let (attempt, body, retry_after) = limited.expect("the hourly limit holds");
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert!(
        retry_after
            .and_then(|seconds| seconds.parse::<u64>().ok())
            .is_some_and(|s| s > 0 && s <= 3600)
    );
    // Four drafts were made above (two of them the model's, one from the cache, one template).
    assert_eq!(attempt + 4, 30, "{body}");
    stack.stop().await;
}
