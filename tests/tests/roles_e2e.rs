//! Roles that the API enforces, against the stack `scripts/local-up` starts: every operation of
//! docs/ROLES.md sent as a viewer, a contributor, a maintainer, an admin, a non-member and a
//! deployment admin, each answer checked against the policy; then a removed member's very next
//! request (404) and a contributor demoted to viewer whose next Generate code & PR is refused
//! (403).

use std::collections::BTreeMap;

use aipm_tests::LocalUp;
use aipm_tests::roles::{OPERATIONS, PEOPLE, expected};
use serde_json::{Value, json};

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn send(
        &self,
        person: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-aipm-person", person);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the stack answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        (status, value)
    }

    /// As the admin, expecting success: fixtures.
    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.send("local-admin", method, path, body).await;
        assert!(status < 300, "{method} {path} as admin: {status} {value}");
        value
    }

    async fn story(&self, title: &str, parent: Option<u64>) -> u64 {
        let mut body = json!({
            "title": title,
            "asA": "product manager",
            "iWant": "to export the story tree",
            "soThat": "I can share progress",
            "storyPoint": 3,
        });
        if let Some(parent) = parent {
            body["parentId"] = json!(parent);
        }
        self.admin("POST", "/stories", Some(body)).await["id"]
            .as_u64()
            .expect("an id")
    }

    async fn test_of(&self, story: u64) -> String {
        let body = json!({
            "title": "export",
            "given": ["a story tree of 3 stories"],
            "when": ["the PM exports it"],
            "then": ["a CSV with 3 rows is downloaded"],
        });
        self.admin("POST", &format!("/stories/{story}/tests"), Some(body))
            .await["id"]
            .as_str()
            .expect("a test id")
            .to_owned()
    }

    async fn ready_story(&self, title: &str) -> u64 {
        let id = self.story(title, None).await;
        self.test_of(id).await;
        self.admin(
            "PATCH",
            &format!("/stories/{id}"),
            Some(json!({"status": "Ready"})),
        )
        .await;
        id
    }
}

/// What the gate made of an answer: `allowed` (the operation ran, whatever its own answer),
/// `403` or `404`.
fn outcome(status: u16, body: &Value) -> String {
    let code = body["error"]["code"].as_str().unwrap_or_default();
    match (status, code) {
        (403, "PERMISSION_DENIED") => "403".into(),
        (404, "PROJECT_NOT_FOUND") => "404".into(),
        _ => "allowed".into(),
    }
}

#[tokio::test]
async fn every_operation_answers_each_role_as_the_policy_says() {
    let mut stack = LocalUp::start_with("roles", &[("AIPM_LOCAL_WORKER", "off")]).await;
    let api = Api {
        http: reqwest::Client::new(),
        base: stack.url.clone(),
    };
    let mut observed: BTreeMap<(String, &str), (String, u16)> = BTreeMap::new();
    for (index, (person, _)) in PEOPLE.iter().enumerate() {
        // Fresh fixtures for each person, made by the admin.
        let story = api.story(&format!("Story for {person}"), None).await;
        let test_to_pass = api.test_of(story).await;
        let test_to_delete = api.test_of(story).await;
        let draft = api.story(&format!("Draft for {person}"), None).await;
        api.test_of(draft).await;
        let leaf = api.story(&format!("Leaf for {person}"), None).await;
        let parent = api.story(&format!("Parent for {person}"), None).await;
        api.story(&format!("Child for {person}"), Some(parent))
            .await;
        let buildable = api.ready_story(&format!("Buildable for {person}")).await;
        let mut trashed = Vec::new();
        for what in ["restore", "purge"] {
            let id = api.story(&format!("To {what} for {person}"), None).await;
            api.admin("DELETE", &format!("/stories/{id}"), None).await;
            trashed.push(id);
        }
        let (to_restore, to_purge) = (trashed[0], trashed[1]);
        let others = api
            .ready_story(&format!("The admin's task for {person}"))
            .await;
        let task = api
            .admin("POST", &format!("/stories/{others}/generate-code"), None)
            .await["taskId"]
            .as_str()
            .expect("a task id")
            .to_owned();
        let key: String = ["VIEW", "CONT", "MAIN", "ADMN", "OUTS", "OPER"][index].into();
        let email = ["vi", "cy", "mo", "ada", "oz", "op"][index];
        let invite = |to: String| {
            let api = &api;
            async move {
                api.admin(
                    "POST",
                    "/projects/AIPM/invitations",
                    Some(json!({"email": to, "role": "viewer"})),
                )
                .await
            }
        };
        let to_revoke =
            invite(format!("revoke-{index}@example.test")).await["invitation"]["invitationId"]
                .as_str()
                .expect("an invitation id")
                .to_owned();
        let to_resend =
            invite(format!("resend-{index}@example.test")).await["invitation"]["invitationId"]
                .as_str()
                .expect("an invitation id")
                .to_owned();
        let own_invitation = invite(format!("{email}@aipm.local")).await["token"]
            .as_str()
            .expect("a token")
            .to_owned();
        let temp = format!("temp-{index}");
        api.admin(
            "PUT",
            &format!("/projects/AIPM/members/{temp}"),
            Some(json!({"role": "viewer"})),
        )
        .await;

        // Half the people go through the project-scoped routes, half through the older ones
        // that act on the default project: both answer the same.
        let base = if index % 2 == 1 { "/projects/AIPM" } else { "" };
        let requests: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("{base}/stories?limit=5"), None),
            ("GET", format!("{base}/stories/{story}"), None),
            (
                "POST",
                format!("{base}/stories"),
                Some(json!({"title": "New"})),
            ),
            (
                "PATCH",
                format!("{base}/stories/{story}"),
                Some(json!({"description": "more"})),
            ),
            (
                "PATCH",
                format!("{base}/stories/{draft}"),
                Some(json!({"status": "Ready"})),
            ),
            (
                "PUT",
                format!("/projects/AIPM/stories/{story}/links"),
                Some(json!({"relatesTo": [buildable]})),
            ),
            (
                "PUT",
                format!("/projects/AIPM/stories/{story}/documents"),
                Some(
                    json!({"links": [{"url": "https://example.com/spec", "title": "Spec"}], "files": []}),
                ),
            ),
            (
                "POST",
                format!("/projects/AIPM/stories/{story}/documents/uploads"),
                Some(json!({"name": "spec.pdf", "contentType": "application/pdf", "size": 10})),
            ),
            (
                "GET",
                // No such file: a person the gate lets through learns that, nobody else does.
                format!(
                    "/projects/AIPM/stories/{story}/documents/files/{}",
                    "0".repeat(32)
                ),
                None,
            ),
            (
                "GET",
                format!("/projects/AIPM/stories/{story}/history"),
                None,
            ),
            ("GET", "/projects/AIPM/history".to_owned(), None),
            ("POST", "/projects/AIPM/live-tickets".to_owned(), None),
            ("GET", "/projects/AIPM/trash".to_owned(), None),
            (
                "POST",
                format!("/projects/AIPM/trash/{to_restore}/restore"),
                None,
            ),
            ("DELETE", format!("/projects/AIPM/trash/{to_purge}"), None),
            ("DELETE", format!("{base}/stories/{leaf}"), None),
            (
                "DELETE",
                format!("{base}/stories/{parent}?cascade=true"),
                None,
            ),
            (
                "POST",
                format!("{base}/stories/{story}/tests"),
                Some(
                    json!({"title": "t", "given": ["g"], "when": ["w"], "then": ["the count is 1"]}),
                ),
            ),
            (
                "PATCH",
                format!("{base}/stories/{story}/tests/{test_to_pass}"),
                Some(json!({"status": "Pass"})),
            ),
            (
                "DELETE",
                format!("{base}/stories/{story}/tests/{test_to_delete}"),
                None,
            ),
            (
                "POST",
                format!("{base}/stories/{buildable}/generate-code"),
                None,
            ),
            ("GET", format!("{base}/code-tasks/{task}"), None),
            ("POST", format!("{base}/code-tasks/{task}/cancel"), None),
            ("POST", format!("{base}/code-tasks/{task}/retry"), None),
            (
                "POST",
                format!("{base}/stories/{others}/change-requests"),
                Some(json!({"feedback": "Keep the API unchanged"})),
            ),
            (
                "POST",
                format!("{base}/story-drafts"),
                Some(json!({"idea": "Let product managers export the story tree as CSV"})),
            ),
            ("POST", format!("{base}/stories/{story}/test-drafts"), None),
            (
                "POST",
                format!("{base}/stories/{story}/invest-review"),
                None,
            ),
            (
                "POST",
                "/projects".into(),
                Some(json!({"key": key, "name": format!("Project of {person}")})),
            ),
            (
                "PATCH",
                "/projects/AIPM".into(),
                Some(json!({"name": format!("AIPM, renamed by {person}")})),
            ),
            (
                "PATCH",
                "/projects/AIPM".into(),
                // Archived and restored at once is no change: the permission is what is tested.
                Some(json!({"archived": false})),
            ),
            ("GET", "/projects/AIPM/repositories".into(), None),
            ("POST", "/projects/AIPM/upload-token".into(), None),
            ("DELETE", "/projects/AIPM/upload-token".into(), None),
            ("GET", "/projects/AIPM/traceability".into(), None),
            ("GET", "/projects/AIPM/me".into(), None),
            ("GET", "/projects/AIPM/members".into(), None),
            (
                "PUT",
                format!("/projects/AIPM/members/new-{index}"),
                Some(json!({"role": "viewer"})),
            ),
            ("DELETE", format!("/projects/AIPM/members/{temp}"), None),
            ("GET", "/projects/AIPM/invitations".into(), None),
            (
                "POST",
                "/projects/AIPM/invitations".into(),
                Some(json!({"email": format!("new-{index}@example.test"), "role": "viewer"})),
            ),
            (
                "DELETE",
                format!("/projects/AIPM/invitations/{to_revoke}"),
                None,
            ),
            (
                "POST",
                format!("/projects/AIPM/invitations/{to_resend}/resend"),
                None,
            ),
            (
                "POST",
                "/invitations/accept".into(),
                Some(json!({"token": own_invitation})),
            ),
        ];
        assert_eq!(requests.len(), OPERATIONS.len());
        for (operation, (method, path, body)) in OPERATIONS.iter().zip(requests) {
            let (status, answer) = api.send(person, method, &path, body).await;
            assert!(
                status < 500 && status != 401,
                "{} as {person}: {status} {answer}",
                operation.route
            );
            observed.insert(
                (operation.route.to_owned(), person),
                (outcome(status, &answer), status),
            );
            if operation.action == aipm::authz::Action::AcceptInvitation {
                assert_eq!(status, 200, "{person} accepts their invitation: {answer}");
            }
            if outcome(status, &answer) == "403" {
                assert_eq!(
                    answer["error"]["details"]["permission"],
                    operation.action.as_str(),
                    "{} as {person}",
                    operation.route
                );
            }
        }
    }
    // The outsider joined AIPM through their invitation: out again, for what follows.
    api.admin("DELETE", "/projects/AIPM/members/local-outsider", None)
        .await;
    let mut wrong = Vec::new();
    for operation in OPERATIONS {
        for (person, standing) in PEOPLE {
            let (got, status) = &observed[&(operation.route.to_owned(), *person)];
            let want = expected(operation, *standing);
            if got != want {
                wrong.push(format!(
                    "{} as {person}: answered {status} ({got}), the policy says {want}",
                    operation.route
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Another project's key and ids: the projects each person started above are invisible to
    // everyone else, whatever their role in AIPM, and "my projects" lists only one's own.
    for (method, path, body) in [
        ("GET", "/projects/ADMN/me", None),
        ("GET", "/projects/ADMN/members", None),
        (
            "PUT",
            "/projects/ADMN/members/local-viewer",
            Some(json!({"role": "admin"})),
        ),
        ("DELETE", "/projects/ADMN/members/local-admin", None),
    ] {
        let (status, answer) = api.send("local-maintainer", method, path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "PROJECT_NOT_FOUND");
    }
    let (_, mine) = api.send("local-outsider", "GET", "/projects", None).await;
    let keys: Vec<&str> = mine["projects"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|entry| entry["project"]["key"].as_str())
        .collect();
    assert_eq!(keys, ["OUTS"], "the outsider's own project only");

    // Removing a member: their very next request is 404.
    let (before, _) = api
        .send("local-contributor", "GET", "/stories?limit=1", None)
        .await;
    assert_eq!(before, 200);
    api.admin("DELETE", "/projects/AIPM/members/local-contributor", None)
        .await;
    let (after, body) = api
        .send("local-contributor", "GET", "/stories?limit=1", None)
        .await;
    assert_eq!(after, 404, "{body}");
    assert_eq!(body["error"]["code"], "PROJECT_NOT_FOUND");

    // Demoting a contributor to viewer: their next Generate code & PR is 403.
    api.admin(
        "PUT",
        "/projects/AIPM/members/local-contributor",
        Some(json!({"role": "contributor"})),
    )
    .await;
    let first = api.ready_story("Demotion, first").await;
    let (allowed, body) = api
        .send(
            "local-contributor",
            "POST",
            &format!("/stories/{first}/generate-code"),
            None,
        )
        .await;
    assert_eq!(allowed, 202, "{body}");
    api.admin(
        "PUT",
        "/projects/AIPM/members/local-contributor",
        Some(json!({"role": "viewer"})),
    )
    .await;
    let second = api.ready_story("Demotion, second").await;
    let (refused, body) = api
        .send(
            "local-contributor",
            "POST",
            &format!("/stories/{second}/generate-code"),
            None,
        )
        .await;
    assert_eq!(refused, 403, "{body}");
    assert_eq!(body["error"]["details"]["permission"], "generateCode");
    assert_eq!(body["error"]["details"]["role"], "viewer");

    // Ids of one project used under another: 404 on every route, for a person who is an admin
    // of both (so nothing but the id's project can be the reason).
    let aipm_story = api.ready_story("Lives in AIPM").await;
    let aipm_test = api.test_of(aipm_story).await;
    let aipm_task = api
        .admin(
            "POST",
            &format!("/stories/{aipm_story}/generate-code"),
            None,
        )
        .await["taskId"]
        .as_str()
        .expect("a task id")
        .to_owned();
    let admn_story = api
        .admin(
            "POST",
            "/projects/ADMN/stories",
            Some(json!({"title": "Lives in ADMN"})),
        )
        .await;
    let admn_id = admn_story["id"].as_u64().expect("an id");
    assert_ne!(admn_id, aipm_story);
    assert_eq!(
        admn_id & u64::from(u32::MAX),
        1,
        "ADMN numbers its own stories: ADMN-1"
    );
    let story_routes = |base: &str, story: u64| -> Vec<(&'static str, String, Option<Value>)> {
        vec![
            ("GET", format!("{base}/stories/{story}"), None),
            (
                "PATCH",
                format!("{base}/stories/{story}"),
                Some(json!({"description": "x"})),
            ),
            ("DELETE", format!("{base}/stories/{story}"), None),
            (
                "DELETE",
                format!("{base}/stories/{story}?cascade=true"),
                None,
            ),
            (
                "POST",
                format!("{base}/stories/{story}/tests"),
                Some(
                    json!({"title": "t", "given": ["g"], "when": ["w"], "then": ["the count is 1"]}),
                ),
            ),
            (
                "POST",
                format!("{base}/stories/{story}/generate-code"),
                None,
            ),
            (
                "POST",
                format!("{base}/stories/{story}/change-requests"),
                Some(json!({"feedback": "Keep the API unchanged"})),
            ),
            ("POST", format!("{base}/stories/{story}/test-drafts"), None),
            (
                "POST",
                format!("{base}/stories/{story}/invest-review"),
                None,
            ),
            ("GET", format!("{base}/stories?parentId={story}"), None),
        ]
    };
    let mut crossed = story_routes("/projects/ADMN", aipm_story);
    crossed.extend([
        (
            "PATCH",
            format!("/projects/ADMN/stories/{aipm_story}/tests/{aipm_test}"),
            Some(json!({"status": "Pass"})),
        ),
        (
            "DELETE",
            format!("/projects/ADMN/stories/{aipm_story}/tests/{aipm_test}"),
            None,
        ),
        (
            "GET",
            format!("/projects/ADMN/code-tasks/{aipm_task}"),
            None,
        ),
        (
            "POST",
            format!("/projects/ADMN/code-tasks/{aipm_task}/cancel"),
            None,
        ),
        (
            "POST",
            format!("/projects/ADMN/code-tasks/{aipm_task}/retry"),
            None,
        ),
    ]);
    crossed.extend(story_routes("", admn_id));
    crossed.extend(story_routes("/projects/AIPM", admn_id));
    for (method, path, body) in crossed {
        let (status, answer) = api.send("local-admin", method, &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        let code = answer["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code == "STORY_NOT_FOUND" || code == "CODE_TASK_NOT_FOUND",
            "{method} {path}: {answer}"
        );
    }
    // A parent from the other project is a parent that does not exist.
    for (method, path) in [
        ("POST", "/projects/ADMN/stories".to_owned()),
        ("POST", "/projects/ADMN/story-drafts".to_owned()),
    ] {
        let body = json!({"title": "Child", "idea": "An idea long enough to draft", "parentId": aipm_story});
        let body = if path.ends_with("story-drafts") {
            json!({"idea": body["idea"], "parentId": aipm_story})
        } else {
            json!({"title": body["title"], "parentId": aipm_story})
        };
        let (status, answer) = api.send("local-admin", method, &path, Some(body)).await;
        assert_eq!(
            answer["error"]["code"], "PARENT_NOT_FOUND",
            "{path}: {status} {answer}"
        );
    }
    // Nothing was touched: the AIPM story and its task are as they were.
    let (status, still) = api
        .send(
            "local-admin",
            "GET",
            &format!("/projects/AIPM/stories/{aipm_story}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(still["acceptanceTests"][0]["status"], "Draft", "{still}");
    assert_eq!(still["codeTasks"][0]["taskId"], aipm_task.as_str());
    stack.stop().await;
}
