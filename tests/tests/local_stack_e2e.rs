//! The local stack as a person uses it: started by `scripts/local-up`, every route answered; a
//! burst of parallel requests to one function runs in several sandboxes, as on Lambda; left
//! idle for longer than twice any time limit in it, the extra sandboxes retire (without a panic
//! in the function's log) and every route answers again; a function process killed by pid is
//! replaced without the next request noticing.

use std::collections::BTreeSet;
use std::time::Duration;

use aipm_tests::LocalUp;
use reqwest::Method;
use serde_json::{Value, json};

/// Longer than twice the largest time limit of the stack: the gateway retires extra sandboxes
/// after 60 s idle and gives a request 30 s; `cargo lambda watch --timeout 60` crashed every
/// function 60 s after its last request.
const IDLE: Duration = Duration::from_secs(135);

struct Client {
    http: reqwest::Client,
    base: String,
    /// The route keys (`GET /stories/{id}`) requests went to.
    covered: BTreeSet<String>,
    /// `/projects/AIPM` while the story routes are sent under a project, empty for the routes
    /// that act on the default project.
    scope: String,
}

impl Client {
    /// Sends a request for `route` (its key, e.g. `GET /stories/{id}`) to `path`; fails the
    /// test unless the status is one of `expected` and the body is the API's JSON.
    async fn expect(
        &mut self,
        route: &str,
        path: &str,
        body: Option<Value>,
        expected: &[u16],
    ) -> Value {
        // Under a project, the story, task, draft and webhook routes take its prefix.
        let scoped_route;
        let scoped_path;
        let (route, path) = match route.split_once(' ') {
            Some((method, template))
                if !self.scope.is_empty()
                    && ["/stories", "/code-tasks", "/story-drafts", "/webhooks"]
                        .iter()
                        .any(|start| template.starts_with(start)) =>
            {
                scoped_route = format!("{method} /projects/{{key}}{template}");
                scoped_path = format!("{}{path}", self.scope);
                (scoped_route.as_str(), scoped_path.as_str())
            }
            _ => (route, path),
        };
        let (method, _) = route.split_once(' ').expect("a route key");
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(40));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{route} ({path}) got no answer: {error}"));
        let status = response.status().as_u16();
        let text = response.text().await.expect("a readable body");
        assert!(
            expected.contains(&status),
            "{route} ({path}) answered {status}, expected {expected:?}: {text}"
        );
        self.covered.insert(route.to_owned());
        if text.is_empty() {
            return Value::Null;
        }
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{route} ({path}) answered no JSON: {text}"));
        if status >= 400 {
            assert!(
                body["error"]["code"].is_string(),
                "{route} ({path}) answered {status} without the API's error shape: {text}"
            );
        }
        body
    }

    /// `GET path` of the UI (route key `GET route`): 200 with `content_type`; returns the body.
    async fn expect_page(&mut self, route: &str, path: &str, content_type: &str) -> String {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(40))
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path} got no answer: {error}"));
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let served = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(served.starts_with(content_type), "{path}: {served}");
        self.covered.insert(format!("GET {route}"));
        response.text().await.expect("a readable body")
    }

    /// The CI routes: an upload token issued, a JUnit report sent with it, the matrix read,
    /// the token revoked and refused from then on.
    async fn ci_routes(&mut self) {
        let issued = self
            .expect(
                "POST /projects/{key}/upload-token",
                "/projects/AIPM/upload-token",
                None,
                &[201],
            )
            .await;
        let token = issued["token"].as_str().expect("a token").to_owned();
        let report = r#"<testsuite name="idle"><testcase classname="idle" name="test_unrelated"/></testsuite>"#;
        let (http, base) = (self.http.clone(), self.base.clone());
        let upload = |token: &str| {
            http.post(format!(
                "{base}/projects/AIPM/test-results?commit={}&run=idle",
                "a".repeat(40)
            ))
            .header("content-type", "application/xml")
            .bearer_auth(token)
            .body(report)
            .timeout(Duration::from_secs(40))
            .send()
        };
        let sent = upload(&token).await.expect("the upload is answered");
        assert!(
            [200, 201].contains(&sent.status().as_u16()),
            "{}",
            sent.status()
        );
        let sent: Value = sent.json().await.expect("JSON");
        assert_eq!(sent["unmapped"], 1);
        self.covered
            .insert("POST /projects/{key}/test-results".to_owned());
        let matrix = self
            .expect(
                "GET /projects/{key}/traceability",
                "/projects/AIPM/traceability",
                None,
                &[200],
            )
            .await;
        assert!(matrix["stories"].is_array());
        assert!(matrix["uploadToken"]["issuedAt"].is_string());
        self.expect(
            "DELETE /projects/{key}/upload-token",
            "/projects/AIPM/upload-token",
            None,
            &[204],
        )
        .await;
        let refused = upload(&token).await.expect("the upload is answered");
        assert_eq!(refused.status().as_u16(), 401);
    }

    /// One request to every route: the UI's page, settings and a module, and every API
    /// operation, each checked for its status and content.
    async fn every_route(&mut self) {
        let page = self.expect_page("/", "/", "text/html").await;
        let module = page
            .split("src=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the page loads its entry module")
            .to_owned();
        assert!(
            module.starts_with("/assets/") && module.ends_with("/app.js"),
            "{module}"
        );
        let script = self
            .expect_page("/assets/{version}/{file}", &module, "text/javascript")
            .await;
        assert!(
            script.contains("import"),
            "{module} is the UI's entry module"
        );
        let config = self
            .expect_page("/config.json", "/config.json", "application/json")
            .await;
        let config: Value = serde_json::from_str(&config).expect("config.json is JSON");
        assert_eq!(config["stage"], "local");
        assert_eq!(config["authMode"], "local-people");
        assert_eq!(config["localPeople"][0]["sub"], "local-admin");

        let health = self.expect("GET /health", "/health", None, &[200]).await;
        assert_eq!(health["stage"], "local");

        // Projects and people: the default project the stack seeds, and one of one's own.
        let mine = self
            .expect("GET /projects", "/projects", None, &[200])
            .await;
        assert_eq!(mine["projects"][0]["project"]["key"], "AIPM");
        assert_eq!(mine["projects"][0]["role"], "admin");
        self.expect(
            "POST /projects",
            "/projects",
            Some(json!({"key": "IDLE", "name": "Idle test"})),
            &[201, 409],
        )
        .await;
        let me = self
            .expect("GET /projects/{key}/me", "/projects/AIPM/me", None, &[200])
            .await;
        assert_eq!(me["permissions"]["manageMembers"]["allowed"], true);
        // Locally there is no GitHub App to ask: nothing is offered, the name is typed.
        let offered = self
            .expect(
                "GET /projects/{key}/repositories",
                "/projects/AIPM/repositories",
                None,
                &[200],
            )
            .await;
        assert_eq!(offered["githubApp"], false);
        self.ci_routes().await;
        let members = self
            .expect(
                "GET /projects/{key}/members",
                "/projects/AIPM/members",
                None,
                &[200],
            )
            .await;
        assert!(members["members"].as_array().is_some_and(|m| m.len() >= 4));
        self.expect(
            "PUT /projects/{key}/members/{sub}",
            "/projects/AIPM/members/idle-guest",
            Some(json!({"role": "viewer"})),
            &[200, 201],
        )
        .await;
        self.expect(
            "DELETE /projects/{key}/members/{sub}",
            "/projects/AIPM/members/idle-guest",
            None,
            &[204],
        )
        .await;
        let renamed = self
            .expect(
                "PATCH /projects/{key}",
                "/projects/IDLE",
                Some(json!({"name": "Idle test, renamed"})),
                &[200],
            )
            .await;
        assert_eq!(renamed["name"], "Idle test, renamed");
        let invited = self
            .expect(
                "POST /projects/{key}/invitations",
                "/projects/IDLE/invitations",
                Some(json!({"email": "ada@aipm.local", "role": "viewer"})),
                &[201],
            )
            .await;
        let invitation = invited["invitation"]["invitationId"]
            .as_str()
            .expect("an invitation id")
            .to_owned();
        let resent = self
            .expect(
                "POST /projects/{key}/invitations/{invitationId}/resend",
                &format!("/projects/IDLE/invitations/{invitation}/resend"),
                None,
                &[200],
            )
            .await;
        assert_ne!(resent["token"], invited["token"]);
        // The admin accepting their own invitation keeps their role.
        let joined = self
            .expect(
                "POST /invitations/accept",
                "/invitations/accept",
                Some(json!({"token": resent["token"]})),
                &[200],
            )
            .await;
        assert_eq!(joined["role"], "admin");
        let listed = self
            .expect(
                "GET /projects/{key}/invitations",
                "/projects/IDLE/invitations",
                None,
                &[200],
            )
            .await;
        assert_eq!(listed["invitations"][0]["state"], "accepted");
        let refused = self
            .expect(
                "DELETE /projects/{key}/invitations/{invitationId}",
                &format!("/projects/IDLE/invitations/{invitation}"),
                None,
                &[409],
            )
            .await;
        assert_eq!(refused["error"]["code"], "INVITATION_NOT_PENDING");

        // The story routes, as they act on the default project and under /projects/{key}.
        for scope in ["", "/projects/AIPM"] {
            self.scope = scope.to_owned();
            self.story_routes().await;
        }
        self.scope.clear();
    }

    /// Every story, test, task and draft route, in the scope set.
    async fn story_routes(&mut self) {
        let story = self
            .expect(
                "POST /stories",
                "/stories",
                Some(json!({
                    "title": "Export stories as CSV",
                    "asA": "product manager",
                    "iWant": "a CSV export of the story tree",
                    "soThat": "I can share progress with stakeholders",
                    "storyPoint": 3
                })),
                &[201],
            )
            .await;
        let id = story["id"].as_u64().expect("a story id");
        let child = self
            .expect(
                "POST /stories",
                "/stories",
                Some(json!({"title": "Child to delete", "asA": "pm", "iWant": "x", "soThat": "y", "parentId": id})),
                &[201],
            )
            .await;
        let child_id = child["id"].as_u64().expect("a child id");

        let listed = self
            .expect(
                "GET /stories",
                &format!("/stories?parentId={id}"),
                None,
                &[200],
            )
            .await;
        assert_eq!(listed["stories"][0]["id"], json!(child_id));

        let test = self
            .expect(
                "POST /stories/{id}/tests",
                &format!("/stories/{id}/tests"),
                Some(json!({
                    "title": "Export",
                    "given": ["3 stories exist"],
                    "when": ["the PM exports the tree"],
                    "then": ["a CSV with 3 rows is downloaded"]
                })),
                &[201],
            )
            .await;
        let test_id = test["id"].as_str().expect("a test id").to_owned();
        let edited = self
            .expect(
                "PATCH /stories/{id}/tests/{testId}",
                &format!("/stories/{id}/tests/{test_id}"),
                Some(json!({"status": "Pass"})),
                &[200],
            )
            .await;
        assert_eq!(edited["status"], "Pass");

        let linked = self
            .expect(
                "PUT /projects/{key}/stories/{id}/links",
                &format!("/projects/AIPM/stories/{id}/links"),
                Some(json!({"relatesTo": [child_id]})),
                &[200],
            )
            .await;
        assert_eq!(linked["links"]["relatesTo"][0]["id"], json!(child_id));

        // A reference file: signed, sent to the emulator's S3 as a browser would, checked,
        // then downloaded back.
        let bytes = b"# Export\n\nColumns: key, title, status.\n".to_vec();
        let upload = self
            .expect(
                "POST /projects/{key}/stories/{id}/documents/uploads",
                &format!("/projects/AIPM/stories/{id}/documents/uploads"),
                Some(json!({"name": "export.md", "contentType": "text/markdown", "size": bytes.len()})),
                &[201],
            )
            .await;
        let file_id = upload["id"].as_str().expect("a file id").to_owned();
        let sent = reqwest::Client::new()
            .put(upload["upload"]["url"].as_str().expect("a signed url"))
            .header("content-type", "text/markdown")
            .body(bytes.clone())
            .send()
            .await
            .expect("the bucket answers");
        assert!(sent.status().is_success(), "{}", sent.status());
        let documented = self
            .expect(
                "PUT /projects/{key}/stories/{id}/documents",
                &format!("/projects/AIPM/stories/{id}/documents"),
                Some(json!({
                    "links": [{"url": "https://example.com/export-spec", "title": "Export spec"}],
                    "files": [{"id": file_id, "name": "export.md"}]
                })),
                &[200],
            )
            .await;
        assert_eq!(
            documented["documents"]["files"][0]["size"],
            json!(bytes.len())
        );
        let download = self
            .expect(
                "GET /projects/{key}/stories/{id}/documents/files/{fileId}",
                &format!("/projects/AIPM/stories/{id}/documents/files/{file_id}"),
                None,
                &[200],
            )
            .await;
        let fetched = reqwest::get(download["download"]["url"].as_str().expect("a signed url"))
            .await
            .expect("the bucket answers")
            .bytes()
            .await
            .expect("the file's bytes");
        assert_eq!(fetched.as_ref(), bytes.as_slice());
        let history = self
            .expect(
                "GET /projects/{key}/stories/{id}/history",
                &format!("/projects/AIPM/stories/{id}/history"),
                None,
                &[200],
            )
            .await;
        assert_eq!(
            history["entries"][0]["action"], "documentsChanged",
            "the newest entry is the documents' change: {history}"
        );
        let feed = self
            .expect(
                "GET /projects/{key}/history",
                "/projects/AIPM/history?limit=5",
                None,
                &[200],
            )
            .await;
        assert_eq!(feed["entries"].as_array().map(Vec::len), Some(5));

        let deleted_child = self
            .expect(
                "DELETE /stories/{id}",
                &format!("/stories/{child_id}"),
                None,
                &[204],
            )
            .await;
        assert!(deleted_child.is_null());
        let ticket = self
            .expect(
                "POST /projects/{key}/live-tickets",
                "/projects/AIPM/live-tickets",
                None,
                &[201],
            )
            .await;
        assert_eq!(
            ticket["ticket"].as_str().map(str::len),
            Some(64),
            "{ticket}"
        );
        let trash = self
            .expect(
                "GET /projects/{key}/trash",
                "/projects/AIPM/trash",
                None,
                &[200],
            )
            .await;
        assert_eq!(trash["trash"][0]["storyId"], json!(child_id), "{trash}");
        let restored = self
            .expect(
                "POST /projects/{key}/trash/{id}/restore",
                &format!("/projects/AIPM/trash/{child_id}/restore"),
                None,
                &[200],
            )
            .await;
        assert_eq!(restored["asRoot"], false, "{restored}");
        self.expect(
            "GET /stories/{id}",
            &format!("/stories/{child_id}"),
            None,
            &[200],
        )
        .await;
        self.expect(
            "DELETE /stories/{id}",
            &format!("/stories/{child_id}"),
            None,
            &[204],
        )
        .await;
        self.expect(
            "DELETE /projects/{key}/trash/{id}",
            &format!("/projects/AIPM/trash/{child_id}"),
            None,
            &[204],
        )
        .await;
        self.expect(
            "POST /projects/{key}/trash/{id}/restore",
            &format!("/projects/AIPM/trash/{child_id}/restore"),
            None,
            &[404],
        )
        .await;

        let ready = self
            .expect(
                "PATCH /stories/{id}",
                &format!("/stories/{id}"),
                Some(json!({"status": "Ready", "acceptWarnings": true})),
                &[200],
            )
            .await;
        assert_eq!(ready["status"], "Ready");

        let read = self
            .expect("GET /stories/{id}", &format!("/stories/{id}"), None, &[200])
            .await;
        assert_eq!(read["acceptanceTests"][0]["id"], json!(test_id));
        assert_eq!(read["children"], json!([]));
        // The deleted child's link went with it.
        assert_eq!(read["links"]["relatesTo"], json!([]));

        let task = self
            .expect(
                "POST /stories/{id}/generate-code",
                &format!("/stories/{id}/generate-code"),
                Some(json!({})),
                &[202],
            )
            .await;
        let task_id = task["taskId"].as_str().expect("a task id").to_owned();
        let read_task = self
            .expect(
                "GET /code-tasks/{taskId}",
                &format!("/code-tasks/{task_id}"),
                None,
                &[200],
            )
            .await;
        assert_eq!(read_task["storyId"], json!(id));
        // The worker of the stack may have finished the task already: then cancelling is a 409.
        self.expect(
            "POST /code-tasks/{taskId}/cancel",
            &format!("/code-tasks/{task_id}/cancel"),
            None,
            &[200, 202, 409],
        )
        .await;
        // Changes asked for in AIPM: a revision of the same pull request (or, while the first
        // task is still running, the next one after it).
        let revision = self
            .expect(
                "POST /stories/{id}/change-requests",
                &format!("/stories/{id}/change-requests"),
                Some(json!({"feedback": "Use tabs"})),
                &[202],
            )
            .await;
        assert_eq!(revision["prNumber"], task["prNumber"]);
        // The first task is no longer the newest (or is still active): refused, never a new PR.
        let retry = self
            .expect(
                "POST /code-tasks/{taskId}/retry",
                &format!("/code-tasks/{task_id}/retry"),
                None,
                &[409],
            )
            .await;
        assert!(
            ["TASK_SUPERSEDED", "TASK_NOT_RETRYABLE"]
                .contains(&retry["error"]["code"].as_str().unwrap_or_default()),
            "{retry}"
        );
        // AI drafts answer from their templates on a stack without a model.
        let drafted = self
            .expect(
                "POST /story-drafts",
                "/story-drafts",
                Some(json!({"idea": "Export the story tree as CSV", "parentId": id})),
                &[200],
            )
            .await;
        assert_eq!(
            (
                drafted["source"].as_str(),
                drafted["fallbackReason"].as_str()
            ),
            (Some("template"), Some("disabled"))
        );
        assert_eq!(drafted["draft"]["title"], "Export the story tree as CSV");
        let tests = self
            .expect(
                "POST /stories/{id}/test-drafts",
                &format!("/stories/{id}/test-drafts"),
                Some(json!({})),
                &[200],
            )
            .await;
        assert_eq!(tests["acceptanceTests"].as_array().map(Vec::len), Some(1));
        let review = self
            .expect(
                "POST /stories/{id}/invest-review",
                &format!("/stories/{id}/invest-review"),
                None,
                &[409],
            )
            .await;
        assert_eq!(review["error"]["code"], "AI_DISABLED");
        let unsigned = self
            .expect(
                "POST /webhooks/github",
                "/webhooks/github",
                Some(json!({"zen": "hi"})),
                &[400, 401],
            )
            .await;
        assert!(
            unsigned["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .starts_with("WEBHOOK_")
        );

        self.expect(
            "DELETE /stories/{id}/tests/{testId}",
            &format!("/stories/{id}/tests/{test_id}"),
            None,
            &[204],
        )
        .await;
        let gone = self
            .expect(
                "GET /stories/{id}",
                &format!("/stories/{}", id + 1000),
                None,
                &[404],
            )
            .await;
        assert_eq!(gone["error"]["code"], "STORY_NOT_FOUND");
    }
}

fn pids_of(sandboxes: &Value, function: &str) -> Vec<u64> {
    sandboxes["sandboxes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|sandbox| sandbox["function"] == function)
        .filter_map(|sandbox| sandbox["pid"].as_u64())
        .collect()
}

#[tokio::test]
async fn the_local_stack_keeps_answering_after_idling_and_after_a_function_dies() {
    let mut stack = LocalUp::start("local-up").await;
    let mut client = Client {
        http: reqwest::Client::new(),
        base: stack.url.clone(),
        covered: BTreeSet::new(),
        scope: String::new(),
    };

    client.every_route().await;
    let routes: BTreeSet<String> = aipm_tests::router::routes()
        .iter()
        .map(|route| format!("{} {}", route.method, route.template))
        .collect();
    assert_eq!(
        client.covered, routes,
        "every route of the router is exercised"
    );

    // Sixteen requests in flight at once to one function run in several sandboxes.
    let burst = (0..16).map(|_| {
        let http = client.http.clone();
        let url = format!("{}/stories?limit=20", stack.url);
        async move {
            http.get(url)
                .timeout(Duration::from_secs(40))
                .send()
                .await
                .map(|response| response.status().as_u16())
        }
    });
    let statuses = futures::future::join_all(burst).await;
    assert!(
        statuses.iter().all(|status| matches!(status, Ok(200))),
        "every request of the burst is answered: {statuses:?}"
    );
    let sandboxes = stack.sandboxes().await;
    assert!(
        pids_of(&sandboxes, "get-stories").len() > 1,
        "concurrent requests ran in more than one sandbox: {sandboxes}"
    );
    tokio::time::sleep(IDLE).await;
    // Idle, the extra sandboxes retired: one get-stories process is left, and none of them
    // died in a panic on the way out.
    let idle = stack.sandboxes().await;
    assert_eq!(pids_of(&idle, "get-stories").len(), 1, "{idle}");
    let log = std::fs::read_to_string(stack.state.join("logs/get-stories.log")).unwrap_or_default();
    assert!(
        !log.contains("panicked") && !log.contains("lambda-runtime-aws-request-id"),
        "a retired sandbox of get-stories panicked:\n{log}"
    );
    client.every_route().await;

    // A function process dies (here: killed); the next request to it is still answered.
    let before = stack.sandboxes().await;
    let victims = pids_of(&before, "get-story");
    assert!(!victims.is_empty(), "get-story has a sandbox: {before}");
    for pid in &victims {
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
    }
    let (status, body) = {
        let response = client
            .http
            .get(format!("{}/stories/1", stack.url))
            .timeout(Duration::from_secs(40))
            .send()
            .await
            .expect("an answer after the kill");
        (response.status().as_u16(), response.text().await)
    };
    assert_eq!(
        status, 200,
        "get-story answers after its process was killed: {body:?}"
    );
    let after = stack.sandboxes().await;
    let replacements = pids_of(&after, "get-story");
    assert!(
        replacements.iter().all(|pid| !victims.contains(pid)) && !replacements.is_empty(),
        "a new get-story process took over: before {victims:?}, after {replacements:?}"
    );
    assert!(after["replaced"].as_u64().unwrap_or(0) >= 1, "{after}");

    stack.stop().await;
}
