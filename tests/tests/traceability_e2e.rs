//! Traceability end to end on the stack `scripts/local-up` starts, with its worker and local git
//! host: a story's acceptance tests get keys, pytest runs tests tagged with them (one failing)
//! and writes JUnit, the report is uploaded with the project's token; the matrix shows Pass and
//! Fail at the pull request's head; a revision's new commit makes them Stale and an edited
//! Given makes one Suspect; with "Done needs CI evidence" the merge is refused naming the
//! failing test (also on the pull request), and Done is accepted after a passing run.

use std::path::Path;
use std::time::{Duration, Instant};

use aipm_tests::LocalUp;
use serde_json::{Value, json};

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("a method"),
                format!("{}{path}", self.base),
            )
            .timeout(Duration::from_secs(40));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.send(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    /// Waits until the story's newest code task has finished and pushed; its commit and task.
    async fn finished_task(&self, story: u64, not: Option<&str>) -> (String, Value) {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let story_view = self.ok("GET", &format!("/stories/{story}"), None).await;
            let newest = &story_view["codeTasks"][0];
            let commit = newest["commitSha"].as_str().unwrap_or_default();
            if newest["status"] == "succeeded" && !commit.is_empty() && Some(commit) != not {
                return (commit.to_owned(), newest.clone());
            }
            assert!(
                !["failed", "timed_out", "cancelled"]
                    .contains(&newest["status"].as_str().unwrap_or("")),
                "the task ended badly: {newest}"
            );
            assert!(Instant::now() < deadline, "no finished task: {story_view}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The matrix of one story's subtree: each test's key → (evidence, commit of its result).
    async fn evidence(&self, story: u64) -> (Value, Vec<(String, String, String)>) {
        let matrix = self
            .ok(
                "GET",
                &format!("/projects/AIPM/traceability?story={story}"),
                None,
            )
            .await;
        let rows = matrix["stories"][0]["tests"]
            .as_array()
            .expect("tests")
            .iter()
            .map(|test| {
                (
                    test["key"].as_str().unwrap_or_default().to_owned(),
                    test["evidence"].as_str().unwrap_or_default().to_owned(),
                    test["result"]["commit"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        (matrix, rows)
    }
}

/// Runs pytest over a file with one test per key (named `test_at_<n>_…`), failing the ones in
/// `failing`, and returns the JUnit XML it wrote.
fn pytest_report(dir: &Path, keys: &[(u32, bool)]) -> String {
    let mut source = String::from("# Written by the traceability test: one test per key.\n");
    for (number, passes) in keys {
        source.push_str(&format!(
            "\n\ndef test_at_{number}_behaves():\n    assert {}, 'AT-{number} does not hold yet'\n",
            if *passes { "True" } else { "1 == 2" }
        ));
    }
    std::fs::write(dir.join("test_story.py"), source).expect("the tests are written");
    let report = dir.join("report.xml");
    let output = std::process::Command::new(aipm_tests::venv_bin("pytest"))
        .current_dir(dir)
        .args(["-q", "-p", "no:cacheprovider", "--junitxml"])
        .arg(&report)
        .arg("test_story.py")
        .output()
        .expect("pytest runs");
    let failing = keys.iter().any(|(_, passes)| !passes);
    assert_eq!(
        output.status.code(),
        Some(if failing { 1 } else { 0 }),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    std::fs::read_to_string(report).expect("pytest wrote its report")
}

async fn upload(api: &Api, token: &str, commit: &str, run: &str, report: String) -> (u16, Value) {
    let response = api
        .http
        .post(format!(
            "{}/projects/AIPM/test-results?commit={commit}&run={run}&runUrl=https://ci.example/runs/{run}",
            api.base
        ))
        .bearer_auth(token)
        .header("content-type", "application/xml")
        .body(report)
        .send()
        .await
        .expect("the upload is answered");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn number(key: &str) -> u32 {
    key.trim_start_matches("AT-").parse().expect("AT-n")
}

#[tokio::test]
async fn ci_results_prove_acceptance_tests_and_gate_done() {
    let mut stack = LocalUp::start("traceability").await;
    let api = Api {
        http: reqwest::Client::new(),
        base: stack.url.clone(),
    };
    let work = aipm_tests::temp_dir("traceability-pytest");

    // A story with two keyed tests, Ready, with a pull request the worker pushed to.
    let story = api
        .ok(
            "POST",
            "/stories",
            Some(json!({"title": "Export CSV", "asA": "product manager",
                "iWant": "to export the story tree as CSV", "soThat": "I can share progress"})),
        )
        .await["id"]
        .as_u64()
        .expect("a story id");
    let mut keys = Vec::new();
    for (title, given) in [("CSV rows", "3 stories"), ("CSV header", "any story")] {
        let test = api
            .ok(
                "POST",
                &format!("/stories/{story}/tests"),
                Some(json!({"title": title, "given": [given], "when": ["the PM exports"], "then": ["a CSV is downloaded"]})),
            )
            .await;
        keys.push((
            test["key"].as_str().expect("a key").to_owned(),
            test["id"].as_str().expect("an id").to_owned(),
        ));
    }
    let (rows_key, header_key) = (keys[0].0.clone(), keys[1].0.clone());
    api.ok(
        "PATCH",
        &format!("/stories/{story}"),
        Some(json!({"status": "Ready"})),
    )
    .await;
    api.ok(
        "POST",
        &format!("/stories/{story}/generate-code"),
        Some(json!({})),
    )
    .await;
    let (head, task) = api.finished_task(story, None).await;
    let pr_number = task["prNumber"].as_u64().expect("a pull request");

    let project = api
        .ok(
            "PATCH",
            "/projects/AIPM",
            Some(json!({"doneNeedsCiEvidence": true})),
        )
        .await;
    assert_eq!(project["doneNeedsCiEvidence"], true);
    let token = api.ok("POST", "/projects/AIPM/upload-token", None).await["token"]
        .as_str()
        .expect("a token")
        .to_owned();

    // pytest's own report: the rows test passes, the header test fails.
    let report = pytest_report(
        &work,
        &[(number(&rows_key), true), (number(&header_key), false)],
    );
    assert!(report.contains("<failure"), "{report}");
    let (status, recorded) = upload(&api, &token, &head, "run-1", report.clone()).await;
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(recorded["cases"], 2);
    let (_, evidence) = api.evidence(story).await;
    assert_eq!(
        evidence,
        [
            (rows_key.clone(), "Pass".to_owned(), head.clone()),
            (header_key.clone(), "Fail".to_owned(), head.clone())
        ]
    );
    let (matrix, _) = api.evidence(story).await;
    assert_eq!(matrix["stories"][0]["rollup"], "NOK");
    assert_eq!(matrix["stories"][0]["target"]["commit"], head.as_str());
    assert_eq!(matrix["stories"][0]["tests"][0]["result"]["run"], "run-1#1");
    assert_eq!(matrix["runs"][0]["run"], "run-1#1");
    // The same report of the same run again is not recorded twice.
    let (again, repeated) = upload(&api, &token, &head, "run-1", report).await;
    assert_eq!((again, &repeated["recorded"]), (200, &json!(false)));

    // A revision pushes a later commit: the results are for an older one.
    api.ok(
        "POST",
        &format!("/stories/{story}/change-requests"),
        Some(json!({"feedback": "Quote fields that hold commas"})),
    )
    .await;
    let (later, _) = api.finished_task(story, Some(&head)).await;
    assert_ne!(later, head);
    let (_, evidence) = api.evidence(story).await;
    assert_eq!(
        evidence
            .iter()
            .map(|(_, e, _)| e.as_str())
            .collect::<Vec<_>>(),
        ["Stale", "Stale"]
    );
    // GitHub says CI ran at the later commit and no report came for it.
    let branch = task["branch"].as_str().expect("a branch");
    let run_delivery = |repository: &str| {
        json!({
            "action": "completed",
            "sender": {"login": "dana", "type": "User"},
            "repository": {"full_name": repository},
            "workflow_run": {
                "id": 5150, "name": "CI", "run_attempt": 1, "status": "completed",
                "conclusion": "failure", "head_branch": branch, "head_sha": later,
                "html_url": format!("https://github.com/{repository}/actions/runs/5150"),
                "pull_requests": [{"number": pr_number}], "updated_at": "2026-12-06T11:00:00Z"
            }
        })
    };
    let (status, _) = stack
        .deliver_webhook(
            "workflow_run",
            "run-elsewhere",
            &run_delivery("mallory/aipm"),
        )
        .await;
    assert_eq!(
        status, 204,
        "a run in another repository is not the story's"
    );
    let (status, answer) = stack
        .deliver_webhook("workflow_run", "run-1", &run_delivery("local/aipm"))
        .await;
    assert_eq!(
        (status, &answer["result"]),
        (200, &json!("ci-run-recorded")),
        "{answer}"
    );
    let (matrix, _) = api.evidence(story).await;
    let ci_run = &matrix["stories"][0]["ciRun"];
    assert_eq!(
        (
            &ci_run["commit"],
            &ci_run["conclusion"],
            &ci_run["reported"]
        ),
        (&json!(later), &json!("failure"), &json!(false)),
        "CI ran, no per-test evidence: {matrix}"
    );

    // An edited Given: the result proves an older text.
    let rows_test = &keys[0].1;
    api.ok(
        "PATCH",
        &format!("/stories/{story}/tests/{rows_test}"),
        Some(json!({"given": ["3 stories, one with a comma in its title"]})),
    )
    .await;
    let (_, evidence) = api.evidence(story).await;
    assert_eq!(evidence[0].1, "Suspect");

    // Merged: Done is refused, naming the test CI has not passed at the merged commit.
    let merged_commit = "d".repeat(40);
    let (status, answer) = stack
        .deliver_webhook(
            "pull_request",
            "merge-1",
            &json!({
                "action": "closed",
                "sender": {"login": "dana", "type": "User"},
                "repository": {"full_name": "local/aipm"},
                "pull_request": {
                    "number": pr_number, "state": "closed", "merged": true,
                    "merged_at": "2026-12-06T12:00:00Z", "merge_commit_sha": merged_commit,
                    "merged_by": {"login": "dana", "type": "User"},
                    "head": {"ref": branch, "repo": {"full_name": "local/aipm"}},
                    "base": {"ref": "main", "repo": {"full_name": "local/aipm"}}
                }
            }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], "merged-not-done", "{answer}");
    assert!(
        answer["reasons"]
            .as_array()
            .is_some_and(|reasons| reasons.contains(&json!("CI_EVIDENCE_NOT_PASSING"))),
        "{answer}"
    );
    let pull: Value = serde_json::from_str(
        &std::fs::read_to_string(
            stack
                .state
                .join(format!("repository.git/aipm/pulls/{pr_number}.json")),
        )
        .expect("the pull request's record"),
    )
    .expect("JSON");
    let comment = pull["comments"]
        .as_array()
        .and_then(|comments| comments.last())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    assert!(
        comment.contains(&header_key) && comment.contains(&rows_key),
        "the pull request says which tests: {comment}"
    );
    let (status, refused) = api
        .send(
            "PATCH",
            &format!("/stories/{story}"),
            Some(json!({"status": "Done"})),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let blocking = refused["error"]["details"]["blockingTests"].to_string();
    assert!(blocking.contains(&header_key), "{refused}");

    // A passing run at the merged commit, sent by the workflow step users add (the composite
    // action's script, with the upload token as for a fork): Done is accepted.
    let report = pytest_report(
        &work,
        &[(number(&rows_key), true), (number(&header_key), true)],
    );
    std::fs::write(work.join("report.xml"), report).expect("the report is kept");
    let step = std::process::Command::new(
        aipm_tests::repo_root().join(".github/actions/aipm-test-results/upload.sh"),
    )
    .current_dir(&work)
    .env("AIPM_URL", &api.base)
    .env("AIPM_PROJECT", "AIPM")
    .env("AIPM_UPLOAD_TOKEN", &token)
    .env("GITHUB_SHA", &merged_commit)
    .env("GITHUB_RUN_ID", "2002")
    .env("GITHUB_RUN_ATTEMPT", "1")
    .env("GITHUB_REPOSITORY", "local/aipm")
    .env("RUNNER_TEMP", &work)
    .output()
    .expect("the upload step runs");
    let said =
        String::from_utf8_lossy(&step.stdout).into_owned() + &String::from_utf8_lossy(&step.stderr);
    assert!(step.status.success(), "{said}");
    assert!(said.contains(r#""recorded":true"#), "{said}");
    let (matrix, evidence) = api.evidence(story).await;
    assert_eq!(
        evidence
            .iter()
            .map(|(_, e, _)| e.as_str())
            .collect::<Vec<_>>(),
        ["Pass", "Pass"]
    );
    assert_eq!(matrix["stories"][0]["target"]["merged"], true);
    assert_eq!(
        matrix["stories"][0]["tests"][0]["result"]["runUrl"],
        "https://github.com/local/aipm/actions/runs/2002"
    );
    let done = api
        .ok(
            "PATCH",
            &format!("/stories/{story}"),
            Some(json!({"status": "Done"})),
        )
        .await;
    assert_eq!(done["status"], "Done");

    // A revoked token uploads nothing more.
    api.ok("DELETE", "/projects/AIPM/upload-token", None).await;
    let (status, _) = upload(&api, &token, &merged_commit, "run-3", "<testsuite/>".into()).await;
    assert_eq!(status, 401);
    stack.stop().await;
}
