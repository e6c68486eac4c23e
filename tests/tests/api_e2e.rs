//! End to end: the local stack of the README (moto, template.yaml's tables and queue, every
//! function under `cargo lambda watch`) driven over HTTP.

use std::collections::HashSet;
use std::time::Duration;

use aipm_tests::{Emulator, LocalApi};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

const HANG_GUARD: Duration = Duration::from_secs(10);

async fn body(response: Response) -> Value {
    let text = response.text().await.expect("a readable body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts the status and the stable error code of the JSON error shape.
async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "expected {code}");
    let json = body(response).await;
    assert_eq!(json["error"]["code"], code, "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{json}"
    );
    json
}

#[tokio::test]
async fn the_local_stack_serves_the_api_end_to_end() {
    let mut emulator = Emulator::start().await;
    let repository = aipm_tests::temp_dir("repository").join("repository.git");
    let environment = emulator
        .create_resources_with("local", Some(&repository))
        .await;
    let mut api = LocalApi::start(&environment).await;
    let http = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    health_lists_every_dependency(&http, &api).await;
    stories_are_created_read_and_paged(&http, &api).await;
    bad_input_gets_clear_errors(&http, &api).await;
    concurrent_creates_get_distinct_ids(&http, &api).await;
    sample_events_invoke_their_functions(&api).await;

    emulator.stop().await;
    a_stopped_emulator_is_503_not_502(&api).await;
    api.stop().await;
}

async fn health_lists_every_dependency(http: &Client, api: &LocalApi) {
    let response = http.get(api.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report = body(response).await;
    assert_eq!(report["status"], "ok");
    assert_eq!(report["stage"], "local");
    assert!(
        report["version"].is_string() && report["commit"].is_string(),
        "{report}"
    );
    let names: Vec<&str> = report["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|dependency| dependency["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "storiesTable",
            "acceptanceTestsTable",
            "codeTasksTable",
            "codeTasksQueue"
        ]
    );
}

async fn stories_are_created_read_and_paged(http: &Client, api: &LocalApi) {
    let first = http
        .post(api.url("/stories"))
        .json(&json!({
            "title": "Export stories as CSV",
            "asA": "product manager",
            "iWant": "to export my stories",
            "soThat": "I can share progress",
            "components": ["export"],
            "storyPoint": 3,
            "assigneeEmail": "dev@example.com"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(first.headers()["location"], "/stories/1");
    let first = body(first).await;
    assert_eq!(first["id"], 1);
    assert_eq!(first["status"], "Draft");

    let second = http
        .post(api.url("/stories"))
        .json(&json!({"title": "Import stories", "parentId": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.headers()["location"], "/stories/2");
    assert_eq!(body(second).await["id"], 2);

    let fetched = http.get(api.url("/stories/1")).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    let mut fetched = body(fetched).await;
    assert_eq!(fetched["children"][0]["id"], 2);
    assert_eq!(fetched["acceptanceTests"], json!([]));
    assert_eq!(fetched["codeTasks"], json!([]));
    // The new child counts on its parent, written with the child.
    assert_eq!(
        (&fetched["childCount"], &fetched["doneChildCount"]),
        (&json!(1), &json!(0))
    );
    // What was created is what is read back, plus the story's tests, children, tasks, child
    // counters and (none yet) links.
    assert_eq!(fetched["openBlockers"], json!([]));
    let object = fetched.as_object_mut().unwrap();
    for added in [
        "children",
        "acceptanceTests",
        "codeTasks",
        "childCount",
        "doneChildCount",
        "links",
        "openBlockers",
    ] {
        object.remove(added);
    }
    assert_eq!(fetched, first);

    let page = body(http.get(api.url("/stories?limit=1")).send().await.unwrap()).await;
    assert_eq!(page["stories"].as_array().unwrap().len(), 1);
    let cursor = page["nextCursor"]
        .as_str()
        .expect("a cursor to the next page");
    let next = body(
        http.get(api.url("/stories"))
            .query(&[("limit", "1"), ("cursor", cursor)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    let ids: HashSet<u64> = [&page, &next]
        .iter()
        .map(|p| p["stories"][0]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, HashSet::from([1, 2]));

    let children = body(
        http.get(api.url("/stories?parentId=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(children["stories"].as_array().unwrap().len(), 1);
    assert_eq!(children["stories"][0]["id"], 2);
}

async fn bad_input_gets_clear_errors(http: &Client, api: &LocalApi) {
    let post = |text: String| {
        http.post(api.url("/stories"))
            .header("content-type", "application/json")
            .body(text)
            .send()
    };
    expect_error(
        post("{\"title\": ".into()).await.unwrap(),
        400,
        "INVALID_JSON",
    )
    .await;
    let missing = expect_error(
        post("{\"asA\":\"PM\"}".into()).await.unwrap(),
        400,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(missing["error"]["details"]["fields"][0]["field"], "title");
    let wrong = expect_error(
        post("{\"title\":\"t\",\"storyPoint\":\"five\"}".into())
            .await
            .unwrap(),
        400,
        "INVALID_FIELD_TYPE",
    )
    .await;
    assert_eq!(wrong["error"]["details"]["field"], "storyPoint");
    let unknown = expect_error(
        post("{\"title\":\"t\",\"priority\":1}".into())
            .await
            .unwrap(),
        400,
        "UNKNOWN_FIELD",
    )
    .await;
    assert_eq!(unknown["error"]["details"]["field"], "priority");
    let huge = format!(
        "{{\"title\":\"t\",\"description\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    expect_error(post(huge).await.unwrap(), 413, "PAYLOAD_TOO_LARGE").await;
    expect_error(
        post("{\"title\":\"t\",\"parentId\":9999}".into())
            .await
            .unwrap(),
        400,
        "PARENT_NOT_FOUND",
    )
    .await;

    let get = |path: &str| http.get(api.url(path)).send();
    expect_error(get("/stories/abc").await.unwrap(), 400, "INVALID_STORY_ID").await;
    expect_error(get("/stories/9999").await.unwrap(), 404, "STORY_NOT_FOUND").await;
    expect_error(
        get("/stories?limit=0").await.unwrap(),
        400,
        "INVALID_QUERY_PARAMETER",
    )
    .await;
    expect_error(
        get("/stories?cursor=bogus").await.unwrap(),
        400,
        "INVALID_CURSOR",
    )
    .await;
}

async fn concurrent_creates_get_distinct_ids(http: &Client, api: &LocalApi) {
    let creates = (0..50).map(|n| {
        http.post(api.url("/stories"))
            .json(&json!({ "title": format!("Concurrent story {n}") }))
            .send()
    });
    let mut ids = HashSet::new();
    for response in futures::future::join_all(creates).await {
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        ids.insert(body(response).await["id"].as_u64().unwrap());
    }
    assert_eq!(ids.len(), 50, "{ids:?}");
}

/// With the emulator gone, every request still gets a JSON answer, not a 502 and not a hang: the
/// client gives up after `HANG_GUARD`, which fails the test.
async fn a_stopped_emulator_is_503_not_502(api: &LocalApi) {
    let http = Client::builder().timeout(HANG_GUARD).build().unwrap();
    let response = http.get(api.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let report = body(response).await;
    assert_eq!(report["status"], "unavailable");
    let unhealthy: Vec<&str> = report["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|dependency| dependency["healthy"] == false)
        .map(|dependency| dependency["name"].as_str().unwrap())
        .collect();
    assert!(unhealthy.contains(&"storiesTable"), "{report}");
    let text = report.to_string();
    for internal in ["127.0.0.1", "aipm-", "dispatch", "error"] {
        assert!(
            !text.contains(internal),
            "/health reveals {internal}: {text}"
        );
    }

    for (method, path) in [
        ("GET", "/stories"),
        ("GET", "/stories/1"),
        ("POST", "/stories"),
    ] {
        let request = match method {
            "GET" => http.get(api.url(path)),
            _ => http
                .post(api.url(path))
                .json(&json!({"title": "during outage"})),
        };
        let error =
            expect_error(request.send().await.unwrap(), 503, "DEPENDENCY_UNAVAILABLE").await;
        // The gate reads the caller's membership before anything else, so the first table a
        // request finds down is the projects table.
        assert_eq!(
            error["error"]["details"]["dependency"], "projects table",
            "{method} {path}"
        );
    }
}

/// Every file in events/ is a valid HTTP API (payload 2.0) event that `cargo lambda invoke`
/// delivers to its function, with the outcome its name promises.
async fn sample_events_invoke_their_functions(api: &LocalApi) {
    let expected = [
        ("health-check", "health-check.json", 200),
        ("get-stories", "get-stories.json", 200),
        ("get-stories", "get-stories-children.json", 200),
        ("get-stories", "get-stories-invalid-limit.json", 400),
        ("get-story", "get-story.json", 200),
        ("get-story", "get-story-invalid-id.json", 400),
        ("create-story", "create-story.json", 201),
        ("create-story", "create-story-missing-title.json", 400),
        ("create-story", "create-story-unknown-field.json", 400),
        ("create-acceptance-test", "create-acceptance-test.json", 201),
        (
            "create-acceptance-test",
            "create-acceptance-test-unknown-story.json",
            404,
        ),
        (
            "update-acceptance-test",
            "update-acceptance-test-not-found.json",
            404,
        ),
        (
            "delete-acceptance-test",
            "delete-acceptance-test-not-found.json",
            404,
        ),
        ("update-story", "update-story.json", 200),
        ("update-story", "update-story-stale-version.json", 412),
        ("delete-story", "delete-story-has-children.json", 409),
        ("delete-story", "delete-story.json", 204),
        ("generate-code", "generate-code.json", 409),
        ("get-code-task", "get-code-task-not-found.json", 404),
        ("cancel-code-task", "cancel-code-task-not-found.json", 404),
        ("retry-code-task", "retry-code-task-not-found.json", 404),
        (
            "request-changes",
            "request-changes-missing-feedback.json",
            400,
        ),
        ("github-webhook", "github-webhook-unsigned.json", 401),
        ("create-story", "create-story-as-viewer.json", 403),
        ("list-projects", "list-projects.json", 200),
        ("create-project", "create-project-invalid-key.json", 400),
        ("get-project-access", "get-project-access.json", 200),
        (
            "get-project-access",
            "get-project-access-unknown-project.json",
            404,
        ),
        ("list-members", "list-members.json", 200),
        ("set-member", "set-member-last-admin.json", 409),
        ("remove-member", "remove-member-not-found.json", 404),
        (
            "create-invitation",
            "create-invitation-invalid-email.json",
            400,
        ),
        ("accept-invitation", "accept-invitation-unknown.json", 404),
    ];
    let on_disk = std::fs::read_dir(aipm_tests::repo_root().join("events"))
        .unwrap()
        .count();
    assert_eq!(
        on_disk,
        expected.len(),
        "every event file has an expectation here"
    );
    for (function, file, status) in expected {
        let response = api.invoke(function, &format!("events/{file}")).await;
        assert_eq!(response["statusCode"], status, "{file}: {response}");
    }
}
