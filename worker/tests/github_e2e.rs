//! The GitHub code host end to end, against a wiremock server that answers GitHub's documented
//! REST (and GraphQL) shapes: generate-code's calls (branch ref, TASK.md contents, draft pull
//! request), the worker's (comment, ready for review), the token in every Authorization header
//! and in no log, and a GitHub outage that a retry recovers from without duplicates.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aipm::adapters::code_host::ConfiguredCodeHost;
use aipm::adapters::dynamodb::{
    DynamoAcceptanceTestRepository, DynamoCodeTaskRepository, DynamoStoryRepository,
};
use aipm::adapters::local_git::LocalGitHost;
use aipm::adapters::sqs::SqsTaskQueue;
use aipm::config::{CodeHostConfig, GitHubCredentials, GitHubToken};
use aipm::handlers::generate_code::GenerateCode;
use aipm::http::respond;
use aipm::model::TaskStatus;
use aipm::ports::{CodeHost, CodeTaskRepository};
use aipm_tests::{Backend, Process};
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghp_testtoken0123456789abcdefSECRET";
const REPO: &str = "/repos/acme/app";

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404"
    }))
}

/// GitHub as far as AIPM uses it; the branch and brief exist once created.
async fn github() -> MockServer {
    github_at("acme/app", "main").await
}

/// [`github`] for the repository `full_name` whose base branch is `base`.
async fn github_at(full_name: &str, base: &str) -> MockServer {
    let repo = format!("/repos/{full_name}");
    let server = MockServer::start().await;
    let main_ref = json!({
        "ref": format!("refs/heads/{base}"), "node_id": "REF_main", "url": format!("{repo}/git/refs/heads/{base}"),
        "object": { "type": "commit", "sha": "aa218f56b14c9653891f9e74264a383fa43fefbd", "url": "" }
    });
    Mock::given(method("GET"))
        .and(path(format!("{repo}/git/ref/heads/{base}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(main_ref.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(format!("^{repo}/git/ref/heads/aipm/.+$")))
        .respond_with(not_found())
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{repo}/git/refs")))
        .respond_with(ResponseTemplate::new(201).set_body_json(main_ref))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{repo}/contents/TASK.md")))
        .respond_with(not_found())
        .mount(&server)
        .await;
    Mock::given(method("PUT")).and(path(format!("{repo}/contents/TASK.md")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "content": { "name": "TASK.md", "path": "TASK.md", "sha": "95b966ae1c166bd92f8ae7d1c313e738c731dfc3" },
            "commit": { "sha": "7638417db6d59f3c431d3e1f261cc637155684cd", "message": "Add the brief" }
        })))
        .mount(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("{repo}/pulls")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let pull = json!({
        "url": format!("https://api.github.com/repos/{full_name}/pulls/7"), "id": 1, "node_id": "PR_kwDOtest7",
        "html_url": format!("https://github.com/{full_name}/pull/7"), "number": 7, "state": "open", "draft": true,
        "title": "Story", "head": { "ref": "aipm/x" }, "base": { "ref": base }
    });
    Mock::given(method("POST"))
        .and(path(format!("{repo}/pulls")))
        .respond_with(ResponseTemplate::new(201).set_body_json(pull.clone()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{repo}/pulls/7")))
        .respond_with(ResponseTemplate::new(200).set_body_json(pull))
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path(format!("{repo}/issues/7/comments")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 1, "node_id": "IC_1", "body": "report", "html_url": format!("https://github.com/{full_name}/pull/7#issuecomment-1")
        })))
        .mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": { "markPullRequestReadyForReview": { "pullRequest": { "isDraft": false } } }
        })))
        .mount(&server)
        .await;
    server
}

/// Everything the code under test logs in this thread, at every level.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The backend of these tests, with the GitHub-flow helpers they share.
struct Stack(Backend);

impl std::ops::Deref for Stack {
    type Target = Backend;

    fn deref(&self) -> &Backend {
        &self.0
    }
}

async fn stack() -> Stack {
    Stack(Backend::start("github").await)
}

impl Stack {
    fn tasks(&self) -> DynamoCodeTaskRepository {
        DynamoCodeTaskRepository::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.config.code_tasks_table,
            &self.config.stories_table,
        )
    }

    async fn ready_story(&self) -> u64 {
        aipm_tests::seed_ready_story(&self.sdk, &self.config).await
    }

    async fn generate(&self, server: &MockServer, story: u64, key: &str) -> (u16, Value) {
        let host = github_host(&self.sdk, &server.uri(), GitHubToken::Value(TOKEN.into())).await;
        self.generate_with(host, story, key).await
    }

    async fn generate_with(&self, host: ConfiguredCodeHost, story: u64, key: &str) -> (u16, Value) {
        let gate = aipm::adapters::memory_projects::local_gate();
        self.generate_through(host, gate, story, key).await
    }

    /// generate-code with the projects (and their links) `gate` holds.
    async fn generate_through(
        &self,
        host: ConfiguredCodeHost,
        gate: aipm::authz::gate::Gate<aipm::adapters::memory_projects::MemoryProjects>,
        story: u64,
        key: &str,
    ) -> (u16, Value) {
        let operation = GenerateCode::new(
            DynamoStoryRepository::new(
                aws_sdk_dynamodb::Client::new(&self.sdk),
                &self.config.stories_table,
            ),
            DynamoAcceptanceTestRepository::new(
                aws_sdk_dynamodb::Client::new(&self.sdk),
                &self.config.acceptance_tests_table,
                &self.config.stories_table,
            ),
            self.tasks(),
            SqsTaskQueue::new(
                aws_sdk_sqs::Client::new(&self.sdk),
                &self.config.code_tasks_queue_url,
            ),
            host,
            gate,
        );
        let mut request = Request::new(Body::Empty).with_path_parameters(
            std::collections::HashMap::from([("id".to_owned(), story.to_string())]),
        );
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
        let response = respond(&operation, request).await;
        (
            response.status().as_u16(),
            serde_json::from_slice(response.body().as_ref()).unwrap(),
        )
    }
}

/// The GitHub code host as a function builds it from its settings.
async fn github_host(
    sdk: &aws_config::SdkConfig,
    api_url: &str,
    token: GitHubToken,
) -> ConfiguredCodeHost {
    let config = CodeHostConfig::GitHub {
        repository: "acme/app".into(),
        api_url: api_url.to_owned(),
        default_branch: "main".into(),
        credentials: GitHubCredentials::Token(token),
    };
    ConfiguredCodeHost::connect(&config, sdk).await.unwrap()
}

async fn calls(server: &MockServer) -> Vec<(String, String, String)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|request| {
            let auth = request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (
                request.method.to_string(),
                request.url.path().to_owned(),
                auth,
            )
        })
        .collect()
}

fn count(calls: &[(String, String, String)], verb: &str, route: &str) -> usize {
    calls
        .iter()
        .filter(|(m, p, _)| m == verb && p == route)
        .count()
}

/// GitHub's git storage for the worker: `branch` with the brief, as the API calls made it.
async fn store_brief(stack: &Stack, branch: &str) {
    let storage = LocalGitHost::new(&stack.repository, "main");
    storage.ensure_branch(branch).await.unwrap();
    storage
        .ensure_file(branch, "TASK.md", "# brief\n", "Add the brief")
        .await
        .unwrap();
}

/// Runs the worker against `server` with the stack's settings, `credentials` and the agent
/// script `agent` until `task_id` is finished, which must be a success.
async fn work_on(
    stack: &Stack,
    server: &MockServer,
    credentials: &[(&str, String)],
    agent: &str,
    task_id: &str,
) -> (Process, aipm::model::CodeTask) {
    let label = format!("github-worker-{task_id}");
    let script = stack.scratch.join(format!("{label}.sh"));
    std::fs::write(&script, agent).unwrap();
    let mut env = stack.environment.clone();
    for (name, value) in [
        ("AIPM_CODE_HOST", "github".to_owned()),
        ("AIPM_GITHUB_REPOSITORY", "acme/app".to_owned()),
        ("AIPM_GITHUB_API_URL", server.uri()),
        ("AIPM_GIT_REMOTE", stack.repository.display().to_string()),
        ("AIPM_AGENT_COMMAND", format!("sh {}", script.display())),
        ("AIPM_QUEUE_WAIT_SECONDS", "1".to_owned()),
        ("AIPM_HEARTBEAT_SECONDS", "0.5".to_owned()),
        (
            "AIPM_WORK_DIR",
            stack.scratch.join(&label).display().to_string(),
        ),
        ("RUST_LOG", "trace".to_owned()),
    ]
    .into_iter()
    .chain(credentials.iter().cloned())
    {
        env.push((name.to_owned(), value));
    }
    let worker = Process::spawn(Path::new(env!("CARGO_BIN_EXE_aipm-worker")), &env, &label);
    let deadline = Instant::now() + Duration::from_secs(90);
    let done = loop {
        let task = stack.tasks().get(task_id).await.unwrap().unwrap();
        if !task.status.is_active() {
            break task;
        }
        assert!(Instant::now() < deadline, "{task:?}\n{}", worker.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        done.status,
        TaskStatus::Succeeded,
        "{done:?}\n{}",
        worker.log_text()
    );
    (worker, done)
}

#[tokio::test]
async fn the_github_flow_sends_the_documented_calls_with_the_token_and_never_logs_it() {
    let (logs, _logging) = capture_logs();
    let server = github().await;
    let stack = stack().await;
    let story = stack.ready_story().await;
    let (status, task) = stack.generate(&server, story, "gh-1").await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["prNumber"], 7);
    assert_eq!(task["prUrl"], "https://github.com/acme/app/pull/7");
    let task_id = task["taskId"].as_str().unwrap().to_owned();
    let branch = task["branch"].as_str().unwrap().to_owned();

    let made = calls(&server).await;
    assert_eq!(count(&made, "POST", &format!("{REPO}/git/refs")), 1);
    assert_eq!(count(&made, "PUT", &format!("{REPO}/contents/TASK.md")), 1);
    assert_eq!(count(&made, "POST", &format!("{REPO}/pulls")), 1);
    let requests = server.received_requests().await.unwrap();
    let opened = requests
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == format!("{REPO}/pulls"))
        .unwrap();
    let body: Value = serde_json::from_slice(&opened.body).unwrap();
    assert_eq!(
        (
            body["draft"].clone(),
            body["head"].clone(),
            body["base"].clone()
        ),
        (json!(true), json!(branch), json!("main"))
    );
    let put = requests
        .iter()
        .find(|r| r.method.as_str() == "PUT")
        .unwrap();
    let put: Value = serde_json::from_slice(&put.body).unwrap();
    assert_eq!(put["branch"], branch.as_str());
    assert!(
        put["content"].as_str().is_some_and(|c| !c.is_empty()),
        "TASK.md goes base64-encoded"
    );

    store_brief(&stack, &branch).await;
    let (worker, done) = work_on(
        &stack,
        &server,
        &[("AIPM_GITHUB_TOKEN", TOKEN.to_owned())],
        "#!/bin/sh\necho 'fn main() {}' > main.rs\necho \"agent saw token: ${AIPM_GITHUB_TOKEN:-none}\"\n",
        &task_id,
    )
    .await;
    assert_eq!(
        done.log_tail.as_deref().map(str::trim),
        Some("agent saw token: none"),
        "the agent's environment is controlled"
    );

    let made = calls(&server).await;
    assert_eq!(
        count(&made, "POST", &format!("{REPO}/issues/7/comments")),
        1
    );
    assert_eq!(count(&made, "POST", "/graphql"), 1, "ready for review");
    let requests = server.received_requests().await.unwrap();
    let ready = requests
        .iter()
        .find(|r| r.url.path() == "/graphql")
        .unwrap();
    let ready: Value = serde_json::from_slice(&ready.body).unwrap();
    assert_eq!(ready["variables"]["id"], "PR_kwDOtest7");
    assert!(
        ready["query"]
            .as_str()
            .unwrap()
            .contains("markPullRequestReadyForReview")
    );
    for (verb, route, auth) in &made {
        assert!(
            auth.contains(TOKEN),
            "{verb} {route} without the token: {auth:?}"
        );
    }

    // The worker logs the outcome just after recording it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !worker.log_text().contains("task finished") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let worker_log = worker.log_text();
    assert!(worker_log.contains("task finished"), "{worker_log}");
    assert!(!worker_log.contains(TOKEN), "the worker logged the token");
    assert!(
        !logs.text().contains(TOKEN),
        "generate-code logged the token"
    );
    assert!(!logs.text().is_empty(), "the capture saw the logs");
    let record = serde_json::to_string(&done).unwrap();
    assert!(!record.contains(TOKEN), "the task record holds the token");
}

#[tokio::test]
async fn a_github_outage_is_503_and_a_retry_converges_on_one_pull_request() {
    let server = github().await;
    // GitHub fails the first attempt at opening the pull request.
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/pulls")))
        .respond_with(ResponseTemplate::new(502).set_body_json(json!({"message": "Server Error"})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    let stack = stack().await;
    let story = stack.ready_story().await;
    let (status, error) = stack.generate(&server, story, "outage").await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "CODE_HOST_UNAVAILABLE");
    assert!(!error.to_string().contains(TOKEN));

    let (status, task) = stack.generate(&server, story, "outage").await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["handOff"], "enqueued");
    let (status, replay) = stack.generate(&server, story, "outage").await;
    assert_eq!(
        (status, replay["taskId"].clone()),
        (200, task["taskId"].clone())
    );

    let made = calls(&server).await;
    assert_eq!(
        count(&made, "POST", &format!("{REPO}/pulls")),
        2,
        "one failed, one opened"
    );
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let messages = sqs
        .receive_message()
        .queue_url(&stack.config.code_tasks_queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    assert_eq!(messages.messages().len(), 1, "one task queued once");
    let tasks = stack.tasks().recent_for_story(story).await.unwrap();
    assert_eq!(tasks.len(), 1);
}

#[tokio::test]
async fn twenty_truly_concurrent_requests_with_one_key_open_one_pull_request() {
    let server = github().await;
    let stack = Arc::new(stack().await);
    let story = stack.ready_story().await;
    let uri = server.uri();
    let requests = (0..20).map(|_| {
        let stack = Arc::clone(&stack);
        let uri = uri.clone();
        tokio::spawn(async move {
            let host = github_host(&stack.sdk, &uri, GitHubToken::Value(TOKEN.into())).await;
            stack.generate_with(host, story, "one-key").await
        })
    });
    let mut task_ids = std::collections::HashSet::new();
    for joined in futures::future::join_all(requests).await {
        let (status, body) = joined.unwrap();
        assert!(status == 202 || status == 200, "{status} {body}");
        task_ids.insert(body["taskId"].as_str().unwrap().to_owned());
    }
    assert_eq!(task_ids.len(), 1);
    let made = calls(&server).await;
    assert_eq!(
        count(&made, "POST", &format!("{REPO}/pulls")),
        1,
        "one pull request"
    );
    assert_eq!(
        count(&made, "PUT", &format!("{REPO}/contents/TASK.md")),
        1,
        "one brief"
    );
    assert_eq!(
        stack.tasks().recent_for_story(story).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn a_github_that_does_not_answer_in_time_is_503() {
    let server = github().await;
    Mock::given(method("POST"))
        .and(path(format!("{REPO}/git/refs")))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(15)))
        .with_priority(1)
        .mount(&server)
        .await;
    let stack = stack().await;
    let story = stack.ready_story().await;
    let (status, error) = tokio::time::timeout(
        Duration::from_secs(40),
        stack.generate(&server, story, "slow"),
    )
    .await
    .expect("generate-code must give up on a silent GitHub");
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "CODE_HOST_UNAVAILABLE");
}

/// Everything logged on this thread from now until the guard drops, at every level.
fn capture_logs() -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// A Secrets Manager secret (in the emulator) holding `token` as `{"token": …}`.
async fn token_secret(stack: &Stack, token: &str) -> (aws_sdk_secretsmanager::Client, String) {
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.sdk);
    let name = format!("aipm-test-github-token-{}", uuid_like());
    let created = secrets
        .create_secret()
        .name(name)
        .secret_string(json!({ "token": token }).to_string())
        .send()
        .await
        .unwrap();
    (secrets, created.arn().unwrap().to_owned())
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}")
}

/// GitHub refuses `token` with 401 on every route, ahead of the mocks that would answer.
async fn refuse(server: &MockServer, token: &'static str) {
    Mock::given(move |request: &wiremock::Request| {
        request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.contains(token))
    })
    .respond_with(ResponseTemplate::new(401).set_body_json(json!({
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401"
    })))
    .with_priority(1)
    .mount(server)
    .await;
}

#[tokio::test]
async fn a_rotated_token_is_read_again_from_secrets_manager_after_a_401() {
    const OLD: &str = "ghp_oldtoken0123456789abcdefROTATED";
    const NEW: &str = "ghp_newtoken0123456789abcdefCURRENT";
    let (logs, _logging) = capture_logs();
    let server = github().await;
    refuse(&server, OLD).await;
    let stack = stack().await;
    let (secrets, arn) = token_secret(&stack, OLD).await;
    // The function starts with the old token cached, then the secret is rotated.
    let host = github_host(
        &stack.sdk,
        &server.uri(),
        GitHubToken::Secret { arn: arn.clone() },
    )
    .await;
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(json!({ "token": NEW }).to_string())
        .send()
        .await
        .unwrap();

    let story = stack.ready_story().await;
    let (status, task) = stack.generate_with(host, story, "rotated").await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["prNumber"], 7);

    let made = calls(&server).await;
    let refused = made
        .iter()
        .filter(|(_, _, auth)| auth.contains(OLD))
        .count();
    assert_eq!(
        refused, 1,
        "one call with the old token, then the new one: {made:?}"
    );
    assert!(made.last().is_some_and(|(_, _, auth)| auth.contains(NEW)));
    assert_eq!(count(&made, "POST", &format!("{REPO}/pulls")), 1);
    let text = logs.text();
    assert!(text.contains("reading it again"), "{text}");
    assert!(
        !text.contains(OLD) && !text.contains(NEW),
        "a token reached the logs"
    );
    assert!(!task.to_string().contains(NEW));
}

#[tokio::test]
async fn a_refused_token_is_503_and_appears_in_no_response_or_log() {
    const REFUSED: &str = "ghp_revokedtoken0123456789abcdefXYZ";
    let (logs, _logging) = capture_logs();
    let server = github().await;
    refuse(&server, REFUSED).await;
    let stack = stack().await;
    let (_, arn) = token_secret(&stack, REFUSED).await;
    let host = github_host(&stack.sdk, &server.uri(), GitHubToken::Secret { arn }).await;
    let story = stack.ready_story().await;

    let (status, error) = stack.generate_with(host, story, "refused").await;
    assert_eq!(status, 503, "{error}");
    assert_eq!(error["error"]["code"], "CODE_HOST_UNAVAILABLE");
    let made = calls(&server).await;
    assert_eq!(
        made.len(),
        2,
        "one call, then one retry with the token read again: {made:?}"
    );
    assert!(!error.to_string().contains(REFUSED), "{error}");
    let text = logs.text();
    assert!(text.contains("401"), "the refusal is logged: {text}");
    assert!(!text.contains(REFUSED), "the token reached the logs");
    let tasks = stack.tasks().recent_for_story(story).await.unwrap();
    assert!(
        tasks
            .iter()
            .all(|task| !serde_json::to_string(task).unwrap().contains(REFUSED)),
        "the token reached the task record"
    );
}

/// A review of 150 comments comes in two pages of GitHub's largest size, in order; the
/// reviewer's permission and AIPM's own login are read as GitHub documents them.
#[tokio::test]
async fn review_comments_are_read_page_by_page_and_permissions_as_documented() {
    use aipm::ports::ReviewerDirectory;
    use wiremock::matchers::query_param;
    let server = MockServer::start().await;
    let comment = |id: u64| {
        json!({"id": id, "pull_request_review_id": 99, "in_reply_to_id": null,
               "user": {"login": "dana", "type": "User"}, "path": "src/lib.rs", "line": id,
               "original_line": id, "side": "RIGHT", "diff_hunk": "@@ -1 +1 @@", "body": format!("comment {id}"),
               "updated_at": "2026-12-01T09:00:00Z"})
    };
    for (page, ids) in [("1", 1..=100u64), ("2", 101..=150u64)] {
        Mock::given(method("GET"))
            .and(path(format!("{REPO}/pulls/7/reviews/99/comments")))
            .and(query_param("per_page", "100"))
            .and(query_param("page", page))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!(ids.map(comment).collect::<Vec<_>>())),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(format!("{REPO}/collaborators/dana/permission")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"permission": "write"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"login": "aipm-bot"})))
        .mount(&server)
        .await;
    let stack = stack().await;
    let host = github_host(&stack.sdk, &server.uri(), GitHubToken::Value(TOKEN.into())).await;
    let comments = host.review_comments(7, 99).await.unwrap();
    assert_eq!(comments.len(), 150);
    assert_eq!(comments[0].body, "comment 1");
    assert_eq!(comments[149].line, Some(150));
    assert_eq!(host.permission("dana").await.unwrap(), "write");
    assert_eq!(
        host.permission("stranger").await.unwrap(),
        "none",
        "a 404 is no permission"
    );
    assert_eq!(host.own_login().await.unwrap(), "aipm-bot");
}

#[tokio::test]
async fn a_project_that_links_another_repository_gets_its_branch_and_pull_request_there() {
    use aipm::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use aipm::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    // The deployment is set up for acme/app; the project links acme/shop, based on trunk.
    let server = github_at("acme/shop", "trunk").await;
    let stack = stack().await;
    let story = stack.ready_story().await;
    let projects = MemoryProjects::with_default_project();
    let shop = RepositoryLink::new("acme", "shop", "trunk");
    projects.link_repository(DEFAULT_PROJECT_ID, Some(shop));
    let host = github_host(&stack.sdk, &server.uri(), GitHubToken::Value(TOKEN.into())).await;
    let (status, task) = stack
        .generate_through(host, local_gate_over(projects), story, "shop-1")
        .await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["prUrl"], "https://github.com/acme/shop/pull/7");
    let made = calls(&server).await;
    assert_eq!(
        count(&made, "GET", "/repos/acme/shop/git/ref/heads/trunk"),
        1
    );
    assert_eq!(count(&made, "POST", "/repos/acme/shop/pulls"), 1);
    assert!(
        made.iter()
            .all(|(_, route, _)| !route.starts_with("/repos/acme/app")),
        "nothing went to the deployment's repository: {made:?}"
    );
    let requests = server.received_requests().await.unwrap_or_default();
    let opened: Value = requests
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == "/repos/acme/shop/pulls")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .expect("a pull request was opened");
    assert_eq!(opened["base"], "trunk", "the project's base branch");
    let recorded = stack
        .tasks()
        .get(task["taskId"].as_str().unwrap())
        .await
        .unwrap()
        .expect("the task is stored");
    let link = recorded
        .repository
        .expect("the task records its repository");
    assert_eq!((link.owner.as_str(), link.name.as_str()), ("acme", "shop"));
}

const APP_ID: u64 = 424_242;
const SHOP_ID: u64 = 9_001;
const SCOPED_TOKEN: &str = "ghs_shopOnly0123456789SECRET";
const LOOKUP_TOKEN: &str = "ghs_metadataLookup0123456789";

/// The App's side of GitHub: the App's installation on acme reaches acme/shop; it is not
/// installed on `elsewhere`. A token asked for by name (metadata only) lists what it covers; a
/// token asked for by id is the working one.
async fn mount_app(server: &MockServer) {
    use wiremock::matchers::body_partial_json;
    let expires = (chrono::Utc::now() + chrono::Duration::minutes(60)).to_rfc3339();
    Mock::given(method("GET"))
        .and(path("/repos/acme/shop/installation"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 77, "account": {"login": "acme"}, "app_id": APP_ID
        })))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/elsewhere/app/installation"))
        .respond_with(not_found())
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/app/installations/77/access_tokens"))
        .and(body_partial_json(json!({"repositories": ["shop"]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": LOOKUP_TOKEN, "expires_at": expires,
            "permissions": {"metadata": "read"}, "repository_selection": "selected",
            "repositories": [{"id": SHOP_ID, "name": "shop", "full_name": "acme/shop"}]
        })))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/app/installations/77/access_tokens"))
        .and(body_partial_json(json!({"repository_ids": [SHOP_ID]})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": SCOPED_TOKEN, "expires_at": expires,
            "permissions": {"contents": "write", "pull_requests": "write", "metadata": "read"},
            "repository_selection": "selected",
            "repositories": [{"id": SHOP_ID, "name": "shop", "full_name": "acme/shop"}]
        })))
        .mount(server)
        .await;
}

/// The code host as the App with `private_key`, against the wiremock GitHub; the deployment's
/// own repository is acme/app.
async fn app_host(server: &MockServer, stack: &Stack, private_key: &str) -> ConfiguredCodeHost {
    let config = CodeHostConfig::GitHub {
        repository: "acme/app".into(),
        api_url: server.uri(),
        default_branch: "main".into(),
        credentials: GitHubCredentials::App {
            app_id: APP_ID,
            private_key: GitHubToken::Value(private_key.to_owned()),
        },
    };
    ConfiguredCodeHost::connect(&config, &stack.sdk)
        .await
        .expect("the App's key is read at start")
}

#[tokio::test]
async fn as_the_app_a_link_recorded_before_a_rename_works_in_the_repository_under_its_new_name() {
    use aipm::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use aipm::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    let server = github_at("acme/shop", "trunk").await;
    mount_app(&server).await;
    let stack = stack().await;
    let (private_key, _) = aipm_tests::github_app_key();
    let host = app_host(&server, &stack, &private_key).await;
    // The link (and every task made from it) still says acme/oldshop; GitHub's id is the one
    // of the repository now called acme/shop.
    let before_rename = RepositoryLink {
        installation_id: Some(77),
        repository_id: Some(SHOP_ID),
        ..RepositoryLink::new("acme", "oldshop", "trunk")
    };
    let projects = MemoryProjects::with_default_project();
    projects.link_repository(DEFAULT_PROJECT_ID, Some(before_rename));
    let story = stack.ready_story().await;
    let (status, task) = stack
        .generate_through(host, local_gate_over(projects), story, "renamed-1")
        .await;
    assert_eq!(status, 202, "{task}");
    let made = calls(&server).await;
    assert_eq!(
        count(&made, "POST", "/repos/acme/shop/pulls"),
        1,
        "{made:?}"
    );
    assert!(
        made.iter()
            .all(|(_, route, _)| !route.starts_with("/repos/acme/oldshop")),
        "nothing went to the old name: {made:?}"
    );
}

#[tokio::test]
async fn as_the_app_a_task_works_with_a_token_for_its_repository_alone() {
    use aipm::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use aipm::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    let (logs, _logging) = capture_logs();
    let server = github_at("acme/shop", "trunk").await;
    mount_app(&server).await;
    let stack = stack().await;
    let (private_key, _) = aipm_tests::github_app_key();
    let host = app_host(&server, &stack, &private_key).await;
    let shop = RepositoryLink::new("acme", "shop", "trunk");
    let projects = MemoryProjects::with_default_project();
    projects.link_repository(DEFAULT_PROJECT_ID, Some(shop.clone()));
    let story = stack.ready_story().await;
    let (status, task) = stack
        .generate_through(host.clone(), local_gate_over(projects), story, "app-1")
        .await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["prUrl"], "https://github.com/acme/shop/pull/7");

    let made = calls(&server).await;
    let on_repository: Vec<_> = made
        .iter()
        .filter(|(_, route, _)| {
            route.starts_with("/repos/acme/shop/") && !route.ends_with("/installation")
        })
        .collect();
    assert!(
        on_repository.len() >= 4,
        "branch, brief and pull request calls: {made:?}"
    );
    for (verb, route, auth) in &on_repository {
        assert_eq!(
            auth,
            &format!("Bearer {SCOPED_TOKEN}"),
            "{verb} {route} carries the token scoped to acme/shop"
        );
    }
    assert!(
        made.iter()
            .all(|(_, _, auth)| auth != &format!("Bearer {LOOKUP_TOKEN}")),
        "the metadata-only token acts on nothing: {made:?}"
    );
    let requests = server.received_requests().await.unwrap_or_default();
    let minted: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path() == "/app/installations/77/access_tokens")
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON body"))
        .filter(|body: &Value| body.get("repository_ids").is_some())
        .collect();
    assert_eq!(
        minted,
        [json!({
            "repository_ids": [SHOP_ID],
            "permissions": {"contents": "write", "pull_requests": "write"}
        })],
        "one working token, for exactly the one repository and the two permissions"
    );
    // The worker's git credential is the same scoped token, reused while it is fresh.
    assert_eq!(
        host.scoped(Some(&shop))
            .git_token()
            .await
            .unwrap()
            .as_deref(),
        Some(SCOPED_TOKEN)
    );
    let minted_again = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/app/installations/77/access_tokens")
        .count();
    assert_eq!(minted_again, 2, "the lookup and one working token, reused");

    // The worker, as the App too, works on the task: every call it makes carries the token
    // for acme/shop, and the agent sees neither that token nor the App's key.
    let branch = task["branch"].as_str().expect("a branch").to_owned();
    store_brief(&stack, &branch).await;
    let before_worker = server.received_requests().await.unwrap_or_default().len();
    let task_id = task["taskId"].as_str().expect("a task id").to_owned();
    let (worker, done) = work_on(
        &stack,
        &server,
        &[
            ("AIPM_GITHUB_APP_ID", APP_ID.to_string()),
            ("AIPM_GITHUB_APP_PRIVATE_KEY", private_key.clone()),
        ],
        "#!/bin/sh\necho 'fn main() {}' > main.rs\n\
         echo \"agent saw: $(env | grep -c -e ghs_ -e 'PRIVATE KEY' -e AIPM_GITHUB)\"\n",
        &task_id,
    )
    .await;
    assert_eq!(
        done.log_tail.as_deref().map(str::trim),
        Some("agent saw: 0"),
        "no token, key or GitHub setting in the agent's environment"
    );
    let by_worker: Vec<_> = calls(&server).await.split_off(before_worker);
    assert_eq!(
        count(&by_worker, "POST", "/repos/acme/shop/issues/7/comments"),
        1
    );
    for (verb, route, auth) in &by_worker {
        let expected = if route.starts_with("/app/") || route.ends_with("/installation") {
            "Bearer ey" // the App's JWT
        } else {
            "Bearer ghs_shopOnly"
        };
        assert!(auth.starts_with(expected), "{verb} {route}: {auth:?}");
    }
    assert!(!worker.log_text().contains(SCOPED_TOKEN));
    assert!(!worker.log_text().contains("PRIVATE KEY"));

    // A project whose repository the App is not installed on: a clear 409, not a failure.
    let elsewhere = MemoryProjects::with_default_project();
    elsewhere.link_repository(
        DEFAULT_PROJECT_ID,
        Some(RepositoryLink::new("elsewhere", "app", "main")),
    );
    let other_story = stack.ready_story().await;
    let (status, refused) = stack
        .generate_through(host, local_gate_over(elsewhere), other_story, "app-2")
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "REPOSITORY_DISCONNECTED");
    assert_eq!(refused["error"]["details"]["repository"], "elsewhere/app");

    let logged = logs.text();
    for secret in [SCOPED_TOKEN, LOOKUP_TOKEN, "PRIVATE KEY"] {
        assert!(!logged.contains(secret), "{secret} reached the log");
        assert!(!refused.to_string().contains(secret));
    }
    assert!(!private_key.is_empty());
}
