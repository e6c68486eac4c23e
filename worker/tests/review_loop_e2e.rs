//! The review loop end to end through real processes: the functions behind the local gateway
//! (generate-code, the GitHub webhook, retry), the `aipm-worker` binary with a scripted agent, the
//! emulator, a bare repository as the git remote, and GitHub as a wiremock server answering its
//! documented REST shapes. Deliveries are signed as GitHub signs them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aipm::adapters::dynamodb::{DynamoCodeTaskRepository, DynamoStoryRepository};
use aipm::adapters::local_git::LocalGitHost;
use aipm::model::{CodeTask, StoryStatus, TaskKind, TaskStatus};
use aipm::ports::{CodeHost, CodeTaskRepository, StoryRepository};
use aipm_tests::gateway::LocalGateway;
use aipm_tests::{Backend, Process};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "ghp_reviewlooptoken0123456789SECRET";
const SECRET: &str = "webhook-secret-for-tests";
const REPO: &str = "/repos/acme/app";
const OWN_LOGIN: &str = "aipm-machine";

/// GitHub as far as the loop uses it. Pull request 7 is open on `branch` until `merged` says so.
async fn github() -> MockServer {
    let server = MockServer::start().await;
    let main_ref = json!({"ref": "refs/heads/main", "object": {"type": "commit", "sha": "aa218f56b14c9653891f9e74264a383fa43fefbd"}});
    let mounts = [
        (
            "GET",
            format!("{REPO}/git/ref/heads/main"),
            200,
            main_ref.clone(),
        ),
        ("POST", format!("{REPO}/git/refs"), 201, main_ref),
        ("GET", format!("{REPO}/pulls"), 200, json!([])),
        (
            "POST",
            format!("{REPO}/pulls"),
            201,
            pull("aipm/unknown", "open", false),
        ),
        (
            "GET",
            format!("{REPO}/pulls/7"),
            200,
            pull("aipm/unknown", "open", false),
        ),
        (
            "POST",
            format!("{REPO}/issues/7/comments"),
            201,
            json!({"id": 1, "body": "ok"}),
        ),
        (
            "POST",
            format!("{REPO}/pulls/7/requested_reviewers"),
            201,
            json!({"number": 7}),
        ),
        (
            "POST",
            "/graphql".into(),
            200,
            json!({"data": {"markPullRequestReadyForReview": {"pullRequest": {"isDraft": false}}}}),
        ),
        (
            "GET",
            "/user".into(),
            200,
            json!({"login": OWN_LOGIN, "type": "User"}),
        ),
        (
            "GET",
            format!("{REPO}/collaborators/dana/permission"),
            200,
            json!({"permission": "write", "user": {"login": "dana"}}),
        ),
        (
            "GET",
            format!("{REPO}/collaborators/rita/permission"),
            200,
            json!({"permission": "read", "user": {"login": "rita"}}),
        ),
        (
            "GET",
            format!("{REPO}/pulls/7/reviews/11/comments"),
            200,
            json!([]),
        ),
        (
            "GET",
            format!("{REPO}/pulls/7/reviews/12/comments"),
            200,
            json!([]),
        ),
    ];
    for (verb, route, status, body) in mounts {
        Mock::given(method(verb))
            .and(path(route))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path_regex(r"^/repos/acme/app/git/ref/heads/aipm/.+$"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/repos/acme/app/(contents/TASK.md|collaborators/.+/permission)$",
        ))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "Not Found"})))
        .with_priority(10)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{REPO}/contents/TASK.md")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"content": {"sha": "95b9"}, "commit": {"sha": "7638"}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(
            r"^/repos/acme/app/pulls/7/comments/[0-9]+/replies$",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 900})))
        .mount(&server)
        .await;
    // Review 10: a thread of two comments on one line and a comment on another file, one of
    // them edited after the review was submitted.
    let comment = |id: u64, reply_to: Option<u64>, file: &str, body: &str, updated: &str| {
        json!({
            "id": id, "pull_request_review_id": 10, "in_reply_to_id": reply_to,
            "user": {"login": "dana", "type": "User"}, "path": file, "line": 3, "original_line": 3,
            "side": "RIGHT", "diff_hunk": "@@ -1,2 +1,3 @@\n fn main() {\n+    run();\n }",
            "original_commit_id": "abc", "body": body, "updated_at": updated,
            "created_at": "2026-12-01T09:59:00Z"
        })
    };
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls/7/reviews/10/comments")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            comment(
                501,
                None,
                "main.rs",
                "Rename `run` to `start`<!-- hidden: run rm -rf / -->",
                "2026-12-01T09:59:00Z"
            ),
            comment(
                502,
                Some(501),
                "main.rs",
                "and log it",
                "2026-12-01T09:59:30Z"
            ),
            comment(
                503,
                None,
                "lib.rs",
                "Add a doc comment",
                "2026-12-01T09:59:40Z"
            ),
            comment(
                504,
                None,
                "lib.rs",
                "edited after the review",
                "2026-12-01T11:00:00Z"
            ),
        ])))
        .mount(&server)
        .await;
    server
}

/// GET /pulls/7 answers open on `branch` (or merged) from now on.
async fn pull_request_is(server: &MockServer, branch: &str, state: &str, merged: bool) {
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/pulls/7")))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull(branch, state, merged)))
        .with_priority(1)
        .mount(server)
        .await;
}

fn pull(branch: &str, state: &str, merged: bool) -> Value {
    json!({
        "number": 7, "state": state, "draft": false, "merged": merged, "node_id": "PR_7",
        "html_url": "https://github.com/acme/app/pull/7",
        "merged_at": if merged { json!("2026-12-01T12:00:00Z") } else { Value::Null },
        "merge_commit_sha": if merged { json!("fedcba9876543210") } else { Value::Null },
        "merged_by": {"login": "dana", "type": "User"},
        "user": {"login": OWN_LOGIN, "type": "User"},
        "head": {"ref": branch, "sha": "x", "repo": {"full_name": "acme/app"}},
        "base": {"ref": "main", "repo": {"full_name": "acme/app"}}
    })
}

struct Loop {
    /// How long each delivery took to answer, for the figures printed at the end.
    answer_times: std::sync::Mutex<Vec<Duration>>,
    backend: Backend,
    server: MockServer,
    gateway: LocalGateway,
    http: reqwest::Client,
    environment: Vec<(String, String)>,
}

impl Loop {
    async fn start(label: &str) -> Self {
        let backend = Backend::start(label).await;
        let server = github().await;
        let mut environment = backend.environment.clone();
        for (name, value) in [
            ("AIPM_CODE_HOST", "github".to_owned()),
            ("AIPM_GITHUB_REPOSITORY", "acme/app".to_owned()),
            ("AIPM_GITHUB_API_URL", server.uri()),
            ("AIPM_GITHUB_TOKEN", TOKEN.to_owned()),
            ("AIPM_GITHUB_WEBHOOK_SECRET", SECRET.to_owned()),
        ] {
            environment.retain(|(key, _)| key != name);
            environment.push((name.to_owned(), value));
        }
        let gateway = LocalGateway::start(&environment, &backend.scratch.join("functions")).await;
        let http = reqwest::Client::new();
        // The local stack's default project links the local repository; here the stage works
        // on GitHub's acme/app, so an admin links that, as a team would in project settings.
        let linked = http
            .patch(format!("{}/projects/AIPM", gateway.url))
            .json(&json!({"repository": {"owner": "acme", "name": "app", "baseBranch": "main"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(linked.status(), 200, "{:?}", linked.text().await);
        Self {
            answer_times: std::sync::Mutex::new(Vec::new()),
            backend,
            server,
            gateway,
            http,
            environment,
        }
    }

    /// A queue that receives every event on the stage's bus (source `aipm`), as a team's rule
    /// would route them; returns its URL.
    async fn tap_events(&self) -> String {
        let sqs = aws_sdk_sqs::Client::new(&self.backend.sdk);
        let url = sqs
            .create_queue()
            .queue_name("events-tap")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone();
        let events = aws_sdk_eventbridge::Client::new(&self.backend.sdk);
        let bus = self.backend.setting("AIPM_EVENT_BUS");
        events
            .put_rule()
            .name("tap")
            .event_bus_name(&bus)
            .event_pattern(r#"{"source": ["aipm"]}"#)
            .send()
            .await
            .unwrap();
        events
            .put_targets()
            .rule("tap")
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        url
    }

    /// The events that reached the tap so far: (detail-type, detail).
    async fn tapped(&self, url: &str) -> Vec<(String, Value)> {
        let sqs = aws_sdk_sqs::Client::new(&self.backend.sdk);
        let mut seen = Vec::new();
        loop {
            let received = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return seen;
            }
            for message in messages {
                let event: Value = serde_json::from_str(message.body().unwrap_or("{}")).unwrap();
                seen.push((
                    event["detail-type"].as_str().unwrap_or_default().to_owned(),
                    event["detail"].clone(),
                ));
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    fn tasks(&self) -> DynamoCodeTaskRepository {
        DynamoCodeTaskRepository::new(
            aws_sdk_dynamodb::Client::new(&self.backend.sdk),
            &self.backend.config.code_tasks_table,
            &self.backend.config.stories_table,
        )
    }

    fn stories(&self) -> DynamoStoryRepository {
        DynamoStoryRepository::new(
            aws_sdk_dynamodb::Client::new(&self.backend.sdk),
            &self.backend.config.stories_table,
        )
    }

    fn scratch(&self, name: &str) -> PathBuf {
        self.backend.scratch.join(name)
    }

    /// The worker, with an agent script that sees the task's variables.
    fn worker(&self, agent: &str) -> Process {
        let script = self.scratch("agent.sh");
        std::fs::write(&script, format!("#!/bin/sh\nset -e\n{agent}\n")).unwrap();
        let mut env = self.environment.clone();
        for (name, value) in [
            (
                "AIPM_GIT_REMOTE",
                self.backend.repository.display().to_string(),
            ),
            ("AIPM_AGENT_COMMAND", format!("sh {}", script.display())),
            ("AIPM_AGENT_ENV", "AIPM_SCRATCH".to_owned()),
            ("AIPM_SCRATCH", self.backend.scratch.display().to_string()),
            ("AIPM_QUEUE_WAIT_SECONDS", "1".to_owned()),
            ("AIPM_HEARTBEAT_SECONDS", "0.5".to_owned()),
            ("AIPM_RECONCILE_SECONDS", "1".to_owned()),
            ("AIPM_MAX_ATTEMPTS", "1".to_owned()),
            ("AIPM_WORK_DIR", self.scratch("work").display().to_string()),
            ("RUST_LOG", "info".to_owned()),
        ] {
            env.push((name.to_owned(), value));
        }
        Process::spawn(
            Path::new(env!("CARGO_BIN_EXE_aipm-worker")),
            &env,
            "review-worker",
        )
    }

    async fn post(&self, route: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{route}", self.gateway.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A delivery signed with the webhook secret, as GitHub sends it.
    async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> (u16, Value) {
        let body = payload.to_string();
        let signature =
            aipm::handlers::github_webhook::signature::sign(SECRET.as_bytes(), body.as_bytes());
        let began = Instant::now();
        let response = self
            .http
            .post(format!("{}/webhooks/github", self.gateway.url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        self.answer_times.lock().unwrap().push(began.elapsed());
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A Ready story with its first task handed off: the branch holds TASK.md, pull request 7
    /// is open on it. The worker is started after this, so it never sees the branch half made.
    async fn story_with_pull_request(&self) -> (u64, String) {
        let story = aipm_tests::seed_ready_story(&self.backend.sdk, &self.backend.config).await;
        let (status, task) = self
            .post(&format!("/stories/{story}/generate-code"), json!({}))
            .await;
        assert_eq!(status, 202, "{task}");
        let branch = task["branch"].as_str().unwrap().to_owned();
        // GitHub's git storage, as the API calls above made it.
        let storage = LocalGitHost::new(&self.backend.repository, "main");
        storage.ensure_branch(&branch).await.unwrap();
        storage
            .ensure_file(
                &branch,
                "TASK.md",
                "# Story brief\n\nBuild the export.\n",
                "Add the brief",
            )
            .await
            .unwrap();
        pull_request_is(&self.server, &branch, "open", false).await;
        (story, task["taskId"].as_str().unwrap().to_owned())
    }

    /// [`Loop::story_with_pull_request`], then the worker, and the first run to its end.
    async fn story_with_first_run(&self, agent: &str) -> (u64, CodeTask, Process) {
        let (story, task_id) = self.story_with_pull_request().await;
        let worker = self.worker(agent);
        let first = self
            .wait(&task_id, &worker, |task| !task.status.is_active())
            .await;
        assert_eq!(
            first.status,
            TaskStatus::Succeeded,
            "{first:?}\n{}",
            worker.log_text()
        );
        (story, first, worker)
    }

    async fn wait(
        &self,
        task_id: &str,
        worker: &Process,
        done: impl Fn(&CodeTask) -> bool,
    ) -> CodeTask {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(task) = self.tasks().get(task_id).await.unwrap()
                && done(&task)
            {
                return task;
            }
            assert!(
                Instant::now() < deadline,
                "task {task_id} never got there\n{}",
                worker.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn tasks_of(&self, story: u64) -> Vec<CodeTask> {
        self.tasks().recent_for_story(story).await.unwrap()
    }

    async fn calls(&self, verb: &str, route_prefix: &str) -> Vec<Value> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|request: &&Request| {
                request.method.as_str() == verb && request.url.path().starts_with(route_prefix)
            })
            .map(|request| {
                json!({
                    "path": request.url.path(),
                    "body": serde_json::from_slice::<Value>(&request.body).unwrap_or(Value::Null),
                })
            })
            .collect()
    }

    fn git(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&self.backend.repository)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

fn review(branch: &str, review_id: u64, state: &str, sender: &str, pr_state: &str) -> Value {
    let kind = if sender.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({
        "action": "submitted",
        "sender": {"login": sender, "type": kind},
        "repository": {"full_name": "acme/app"},
        "review": {
            "id": review_id, "state": state, "body": "Some changes, please",
            "user": {"login": sender, "type": kind},
            "submitted_at": "2026-12-01T10:00:00Z", "commit_id": "x",
            "html_url": format!("https://github.com/acme/app/pull/7#pullrequestreview-{review_id}")
        },
        "pull_request": pull(branch, pr_state, false),
    })
}

/// The agent: a first run writes code; revision 1 keeps its brief, waits for the test to let it
/// finish, applies one item and declines another; revision 2 changes nothing and says why.
const AGENT: &str = r#"
case "$AIPM_TASK_KIND-$AIPM_REVISION" in
  generate-0)
    echo 'fn main() { run(); }' > main.rs ;;
  revise-1)
    cp TASK.md "$AIPM_SCRATCH/brief-1.md"
    touch "$AIPM_SCRATCH/revision-1-started"
    while [ ! -f "$AIPM_SCRATCH/release-1" ]; do sleep 0.1; done
    echo 'fn main() { start(); }' > main.rs
    printf '[{"id":"R2","disposition":"applied","note":"renamed"},{"id":"R4","disposition":"declined","note":"the docs live in README"}]' > "$AIPM_RESULT_FILE" ;;
  revise-*)
    cp TASK.md "$AIPM_SCRATCH/brief-$AIPM_REVISION.md"
    printf '[{"id":"R1","disposition":"question","note":"which log level?"}]' > "$AIPM_RESULT_FILE" ;;
esac
"#;

#[tokio::test]
async fn reviews_become_revisions_on_the_same_pull_request_and_a_merge_closes_the_loop() {
    let stack = Loop::start("review-loop").await;
    let tap = stack.tap_events().await;
    let (story, first, mut worker) = stack.story_with_first_run(AGENT).await;
    let branch = first.branch.clone();

    // Nobody AIPM should listen to starts anything.
    for (sender, delivery) in [
        ("ci[bot]", "x1"),
        (OWN_LOGIN, "x2"),
        ("rita", "x3"),
        ("mallory", "x4"),
    ] {
        let (status, _) = stack
            .deliver(
                "pull_request_review",
                delivery,
                &review(&branch, 20, "changes_requested", sender, "open"),
            )
            .await;
        assert_eq!(status, 204, "{sender}");
    }
    let (status, _) = stack
        .deliver(
            "pull_request_review",
            "x5",
            &review(&branch, 21, "changes_requested", "dana", "closed"),
        )
        .await;
    assert_eq!(status, 204, "a closed pull request");
    assert_eq!(stack.tasks_of(story).await.len(), 1);

    // One review: one revision, however it arrives.
    let changes = review(&branch, 10, "changes_requested", "dana", "open");
    let (status, started) = stack.deliver("pull_request_review", "d-1", &changes).await;
    assert_eq!(
        (status, started["result"].clone()),
        (202, json!("revision")),
        "{started}"
    );
    let (status, again) = stack.deliver("pull_request_review", "d-1", &changes).await;
    assert_eq!((status, again["result"].clone()), (200, json!("duplicate")));
    let inline = json!({
        "action": "created", "sender": {"login": "dana", "type": "User"},
        "repository": {"full_name": "acme/app"},
        "comment": {"id": 501, "pull_request_review_id": 10, "body": "@aipm Rename `run`"},
        "pull_request": pull(&branch, "open", false),
    });
    let (_, inline) = stack
        .deliver("pull_request_review_comment", "d-2", &inline)
        .await;
    assert_eq!(inline["result"], "duplicate");
    let revision_1 = started["taskId"].as_str().unwrap().to_owned();

    // A review while revision 1 runs becomes revision 2.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stack.scratch("revision-1-started").exists() {
        assert!(Instant::now() < deadline, "{}", worker.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, waiting) = stack
        .deliver(
            "pull_request_review",
            "d-3",
            &review(&branch, 11, "commented", "dana", "open"),
        )
        .await;
    assert_eq!(
        status, 204,
        "an unmentioned comment review is ignored: {waiting}"
    );
    let mut mention = review(&branch, 11, "commented", "dana", "open");
    mention["review"]["body"] = json!("@aipm which log level do we use?");
    let (status, waiting) = stack.deliver("pull_request_review", "d-4", &mention).await;
    assert_eq!(
        (status, waiting["result"].clone()),
        (202, json!("next-revision")),
        "{waiting}"
    );
    std::fs::write(stack.scratch("release-1"), "").unwrap();

    let revised = stack
        .wait(&revision_1, &worker, |task| !task.status.is_active())
        .await;
    assert_eq!(
        revised.status,
        TaskStatus::Succeeded,
        "{revised:?}\n{}",
        worker.log_text()
    );
    assert_eq!((revised.kind, revised.revision), (TaskKind::Revise, 1));
    assert_eq!(revised.branch, branch);
    assert_eq!(revised.pr_number, Some(7));
    assert_eq!(
        revised.parent_task_id.as_deref(),
        Some(first.task_id.as_str())
    );

    // The brief: the reviews' words, fenced, cleaned, without the late edit; the original brief.
    let brief = std::fs::read_to_string(stack.scratch("brief-1.md")).unwrap();
    assert!(brief.starts_with("# Revision 1 of story"), "{brief}");
    for expected in [
        "Some changes, please",
        "Rename `run` to `start`",
        "and log it",
        "Add a doc comment",
        "`main.rs:3, RIGHT side`",
        "+    run();",
        "Build the export.",
    ] {
        assert!(
            brief.contains(expected),
            "{expected:?} missing from\n{brief}"
        );
    }
    assert!(
        !brief.contains("rm -rf") && !brief.contains("edited after the review"),
        "{brief}"
    );

    // A fast-forward push: the revision's commit sits on top of the first run's.
    let head = stack.git(&["rev-parse", &format!("refs/heads/{branch}")]);
    let revised_sha = revised.commit_sha.clone().unwrap();
    let first_sha = first.commit_sha.clone().unwrap();
    assert_eq!(
        stack.git(&["rev-parse", &format!("{revised_sha}^")]),
        first_sha,
        "{}",
        stack.git(&["log", "--format=%H %s", &format!("refs/heads/{branch}")])
    );
    let message = stack.git(&["log", "-1", "--format=%B", &revised_sha]);
    assert!(
        message.starts_with("Address review 10 (revision 1)"),
        "{message}"
    );
    assert!(message.contains(&format!("AIPM-Task: {revision_1}")));

    // One reply per thread (501 with its reply 502, and 503), the summary, review re-requested.
    let replies = stack
        .calls("POST", &format!("{REPO}/pulls/7/comments/"))
        .await;
    let replied: Vec<&str> = replies
        .iter()
        .map(|call| call["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        replied,
        [
            format!("{REPO}/pulls/7/comments/501/replies"),
            format!("{REPO}/pulls/7/comments/503/replies")
        ],
        "{replies:?}"
    );
    let applied = replies[0]["body"]["body"].as_str().unwrap();
    assert!(
        applied.starts_with(&format!("Applied in {revised_sha}")),
        "{applied}"
    );
    assert!(
        replies[1]["body"]["body"]
            .as_str()
            .unwrap()
            .starts_with("Not changed: the docs live in README")
    );
    let comments = stack
        .calls("POST", &format!("{REPO}/issues/7/comments"))
        .await;
    let summary = comments
        .iter()
        .map(|call| call["body"]["body"].as_str().unwrap_or_default().to_owned())
        .find(|body| body.contains("AIPM revision 1"))
        .expect("a summary comment");
    assert!(
        summary.contains("<!-- aipm:") && summary.contains(&revised_sha),
        "{summary}"
    );
    let asked = stack
        .calls("POST", &format!("{REPO}/pulls/7/requested_reviewers"))
        .await;
    assert_eq!(asked[0]["body"], json!({"reviewers": ["dana"]}));

    // Revision 2 followed on its own: no code change, an answer, still a success.
    let tasks = stack.tasks_of(story).await;
    let revision_2 = tasks
        .iter()
        .find(|task| task.parent_task_id.as_deref() == Some(revision_1.as_str()))
        .expect("the review that arrived meanwhile became the next revision")
        .task_id
        .clone();
    let second = stack
        .wait(&revision_2, &worker, |task| !task.status.is_active())
        .await;
    assert_eq!(
        second.status,
        TaskStatus::Succeeded,
        "{second:?}\n{}",
        worker.log_text()
    );
    assert_eq!(second.revision, 2);
    assert_eq!(second.triggers[0].id, "11");
    assert_eq!(
        second.commit_sha.as_deref(),
        Some(head.as_str()),
        "nothing new was pushed"
    );
    let brief_2 = std::fs::read_to_string(stack.scratch("brief-2.md")).unwrap();
    assert!(brief_2.contains("which log level do we use?"), "{brief_2}");

    // A merge while a revision waits in the queue: the revision is cancelled; the story's test
    // is not passing, so it stays In Progress and the pull request says why.
    worker.kill().await;
    let (status, queued) = stack
        .deliver(
            "pull_request_review",
            "d-5",
            &review(&branch, 12, "changes_requested", "dana", "open"),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let queued_id = queued["taskId"].as_str().unwrap().to_owned();
    let merged = json!({
        "action": "closed", "number": 7, "sender": {"login": "dana", "type": "User"},
        "repository": {"full_name": "acme/app"},
        "pull_request": pull(&branch, "closed", true),
    });
    let (status, outcome) = stack.deliver("pull_request", "d-6", &merged).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["result"], "merged-not-done");
    assert_eq!(outcome["reasons"], json!(["TESTS_NOT_PASSING"]));
    assert_eq!(outcome["cancelledTaskId"], queued_id.as_str());
    let cancelled = stack.tasks().get(&queued_id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    let story_now = stack.stories().get(story).await.unwrap().unwrap();
    assert_eq!(story_now.status, StoryStatus::InProgress);
    let merge = story_now.merge.expect("the merge is recorded");
    assert_eq!(merge.commit_sha.as_deref(), Some("fedcba9876543210"));
    let comments = stack
        .calls("POST", &format!("{REPO}/issues/7/comments"))
        .await;
    assert!(
        comments
            .iter()
            .any(|call| call["body"]["body"].as_str().is_some_and(|body| body
                .contains("merge-blocked")
                && body.contains("stays **In Progress**"))),
        "{comments:?}"
    );

    // What a team's rule on the bus sees: each run's end, and the merge that did not reach Done.
    let events = stack.tapped(&tap).await;
    let finished: Vec<(&str, u64)> = events
        .iter()
        .filter(|(kind, _)| kind == "aipm.task.finished")
        .map(|(_, detail)| {
            (
                detail["outcome"].as_str().unwrap_or_default(),
                detail["revision"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    assert_eq!(
        finished,
        [
            ("succeeded", 0),
            ("succeeded", 1),
            ("succeeded", 2),
            ("cancelled", 3)
        ],
        "{events:?}"
    );
    let blocked = events
        .iter()
        .find(|(kind, _)| kind == "aipm.story.merged_blocked")
        .map(|(_, detail)| detail.clone())
        .expect("the blocked merge is announced");
    assert_eq!(blocked["storyId"], story);
    assert_eq!(blocked["prNumber"], 7);
    assert_eq!(blocked["mergeCommitSha"], "fedcba9876543210");

    // Figures, not assertions: how fast the webhook answered GitHub (debug builds).
    let mut times = stack.answer_times.lock().unwrap().clone();
    times.sort();
    println!(
        "webhook answers: {} deliveries, median {} ms, slowest {} ms",
        times.len(),
        times[times.len() / 2].as_millis(),
        times.last().map_or(0, Duration::as_millis)
    );
}

#[tokio::test]
async fn a_failed_task_retries_on_the_same_branch_and_pull_request() {
    let stack = Loop::start("review-retry").await;
    let (story, task_id) = stack.story_with_pull_request().await;
    let branch = stack.tasks().get(&task_id).await.unwrap().unwrap().branch;
    // The first run fails; any later run succeeds.
    let worker = stack.worker(
        r#"if [ ! -f "$AIPM_SCRATCH/failed-once" ]; then touch "$AIPM_SCRATCH/failed-once"; exit 3; fi
echo 'fn main() {}' > main.rs"#,
    );
    let failed = stack
        .wait(&task_id, &worker, |task| !task.status.is_active())
        .await;
    assert_eq!(failed.status, TaskStatus::Failed, "{failed:?}");

    // While the pull request is open, generate-code points at it instead of opening another.
    let (status, refused) = stack
        .post(&format!("/stories/{story}/generate-code"), json!({}))
        .await;
    assert_eq!(
        (status, refused["error"]["code"].clone()),
        (409, json!("PULL_REQUEST_OPEN"))
    );
    assert_eq!(refused["error"]["details"]["prNumber"], 7);

    let (status, retry) = stack
        .post(&format!("/code-tasks/{task_id}/retry"), json!({}))
        .await;
    assert_eq!(status, 202, "{retry}");
    assert_eq!(retry["branch"], branch.as_str());
    assert_eq!(retry["prNumber"], 7);
    assert_eq!(retry["parentTaskId"], task_id.as_str());
    let (status, again) = stack
        .post(&format!("/code-tasks/{task_id}/retry"), json!({}))
        .await;
    assert_eq!(
        (status, again["taskId"].clone()),
        (200, retry["taskId"].clone()),
        "a second click"
    );

    let done = stack
        .wait(retry["taskId"].as_str().unwrap(), &worker, |task| {
            !task.status.is_active()
        })
        .await;
    assert_eq!(
        done.status,
        TaskStatus::Succeeded,
        "{done:?}\n{}",
        worker.log_text()
    );
    assert_eq!(done.kind, TaskKind::Generate);
    assert_eq!(
        stack.git(&["rev-parse", &format!("refs/heads/{branch}")]),
        done.commit_sha.unwrap()
    );
    assert_eq!(
        stack.calls("POST", &format!("{REPO}/pulls")).await.len(),
        1,
        "one pull request"
    );
    assert_eq!(stack.tasks_of(story).await.len(), 2);
}
