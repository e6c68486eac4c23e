//! The worker end to end: the real `aipm-worker` binary against the emulator and a bare git
//! repository, running scripted agents. Tasks are created by the generate-code handler on the
//! real adapters (and, in the first test, over HTTP through the local API).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use aipm::adapters::dynamodb::{
    DynamoAcceptanceTestRepository, DynamoCodeTaskRepository, DynamoStoryRepository,
};
use aipm::adapters::local_git::{LocalGitHost, LocalPullRequest};
use aipm::adapters::sqs::SqsTaskQueue;
use aipm::handlers::generate_code::GenerateCode;
use aipm::http::respond;
use aipm::model::{CodeTask, TaskStatus};
use aipm::ports::{CodeTaskRepository, StoryRepository};
use aipm_tests::{Backend, LocalApi, Process};
use chrono::Utc;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};

/// The backend of these tests, with the task helpers they share.
struct Fixture(Backend);

impl std::ops::Deref for Fixture {
    type Target = Backend;

    fn deref(&self) -> &Backend {
        &self.0
    }
}

impl Fixture {
    async fn start() -> Self {
        Self(Backend::start("worker").await)
    }

    fn stories(&self) -> DynamoStoryRepository {
        DynamoStoryRepository::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.config.stories_table,
        )
    }

    fn tasks(&self) -> DynamoCodeTaskRepository {
        DynamoCodeTaskRepository::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.config.code_tasks_table,
            &self.config.stories_table,
        )
    }

    fn host(&self) -> LocalGitHost {
        LocalGitHost::new(&self.repository, "main")
    }

    /// A Ready story with one test, and a task generated for it; returns the task.
    async fn generated_task(&self) -> CodeTask {
        let story = aipm_tests::seed_ready_story(&self.sdk, &self.config).await;
        let stories = self.stories();
        let tests = DynamoAcceptanceTestRepository::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            &self.config.acceptance_tests_table,
            &self.config.stories_table,
        );
        let generate = GenerateCode::new(
            stories,
            tests,
            self.tasks(),
            SqsTaskQueue::new(
                aws_sdk_sqs::Client::new(&self.sdk),
                &self.config.code_tasks_queue_url,
            ),
            self.host(),
            aipm::adapters::memory_projects::local_gate(),
        );
        let request = Request::new(Body::Empty).with_path_parameters(
            std::collections::HashMap::from([("id".to_owned(), story.to_string())]),
        );
        let response = respond(&generate, request).await;
        assert_eq!(response.status(), 202);
        let task: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        self.tasks()
            .get(task["taskId"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap()
    }

    /// Writes an agent script and returns the command that runs it.
    fn agent(&self, name: &str, script: &str) -> String {
        let path = self.scratch.join(format!("{name}.sh"));
        std::fs::write(&path, format!("#!/bin/sh\nset -e\n{script}\n")).unwrap();
        format!("sh {}", path.display())
    }

    fn worker(&self, agent_command: &str, extra: &[(&str, &str)]) -> Process {
        let mut env = self.environment.clone();
        for (name, value) in [
            ("AIPM_AGENT_COMMAND", agent_command),
            ("AIPM_LEASE_SECONDS", "8"),
            ("AIPM_HEARTBEAT_SECONDS", "0.5"),
            ("AIPM_QUEUE_WAIT_SECONDS", "1"),
            ("AIPM_RECONCILE_SECONDS", "1"),
            ("AIPM_RETRY_BACKOFF_SECONDS", "0.1"),
            ("AIPM_MAX_ATTEMPTS", "2"),
            ("AIPM_SHUTDOWN_GRACE_SECONDS", "2"),
            ("RUST_LOG", "info"),
        ] {
            env.push((name.to_owned(), value.to_owned()));
        }
        env.push((
            "AIPM_WORK_DIR".to_owned(),
            self.scratch.join("work").display().to_string(),
        ));
        env.push((
            "AIPM_SCRATCH".to_owned(),
            self.scratch.display().to_string(),
        ));
        env.push(("AIPM_AGENT_ENV".to_owned(), "AIPM_SCRATCH".to_owned()));
        for (name, value) in extra {
            env.push(((*name).to_owned(), (*value).to_owned()));
        }
        Process::spawn(Path::new(env!("CARGO_BIN_EXE_aipm-worker")), &env, "worker")
    }

    /// Waits (up to a generous bound, so a hang fails instead of stalling) for the task to
    /// satisfy `done`.
    async fn wait_for(
        &self,
        task_id: &str,
        worker: &Process,
        done: impl Fn(&CodeTask) -> bool,
    ) -> CodeTask {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let task = self.tasks().get(task_id).await.unwrap().unwrap();
            if done(&task) {
                return task;
            }
            assert!(
                Instant::now() < deadline,
                "task never got there: {task:?}\nworker log:\n{}",
                worker.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Once the task runs, sends `signal` (`-TERM`, `-USR1`) to the worker alone, as systemd's
    /// `KillMode=mixed` and aipm-drain do, and waits for it to exit cleanly on its own.
    async fn signal_while_running(&self, task_id: &str, worker: &mut Process, signal: &str) {
        self.wait_for(task_id, worker, |task| task.status == TaskStatus::Running)
            .await;
        let pid = worker.pid().unwrap().to_string();
        assert!(
            std::process::Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        let exited = tokio::time::timeout(Duration::from_secs(60), worker.child.wait()).await;
        assert!(
            exited.is_ok_and(|status| status.is_ok_and(|s| s.success())),
            "{}",
            worker.log_text()
        );
    }

    fn git(&self, args: &[&str]) -> Option<String> {
        let output = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&self.repository)
            .args(args)
            .output()
            .unwrap();
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    async fn pull_request(&self, number: u64) -> LocalPullRequest {
        self.host()
            .pull_requests()
            .await
            .unwrap()
            .into_iter()
            .find(|pull| pull.number == number)
            .unwrap()
    }
}

/// SIGKILLs the process group of the agent process `pid`, if it is a group of its own.
fn kill_agent_group(pid: &str) {
    let group_of = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| stat.rsplit(')').next().map(str::to_owned))
            .and_then(|rest| rest.split_whitespace().nth(2).map(str::to_owned))
    };
    let (Some(group), Some(own)) = (group_of(pid), group_of("self")) else {
        return;
    };
    if group != own && group.parse::<u32>().is_ok_and(|g| g > 1) {
        let _ = std::process::Command::new("kill")
            .args(["-9", "--", &format!("-{group}")])
            .status();
    }
}

/// Whether a process is alive; a zombie (killed, not yet reaped) counts as stopped.
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|status| {
            !status
                .lines()
                .any(|line| line.starts_with("State:") && line.contains('Z'))
        })
        .unwrap_or(false)
}

fn finished(task: &CodeTask) -> bool {
    !task.status.is_active()
}

#[tokio::test]
async fn a_ready_story_goes_from_http_to_a_pushed_commit_and_a_ready_pull_request() {
    let fixture = Fixture::start().await;
    let mut api = LocalApi::start(&fixture.environment).await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| http.post(api.url(path)).json(&body).send();
    let story: Value = post("/stories", json!({"title": "Export stories as CSV", "asA": "product manager", "iWant": "a CSV export", "soThat": "I can share progress"}))
        .await.unwrap().json().await.unwrap();
    let id = story["id"].as_u64().unwrap();
    post(&format!("/stories/{id}/tests"), json!({"title": "CSV", "given": ["3 stories"], "when": ["the PM exports"], "then": ["a CSV with 3 rows is downloaded"]}))
        .await.unwrap();
    let ready = http
        .patch(api.url(&format!("/stories/{id}")))
        .json(&json!({"status": "Ready"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let response = post(&format!("/stories/{id}/generate-code"), json!({}))
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let queued: Value = response.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    let task_id = queued["taskId"].as_str().unwrap().to_owned();

    let agent = fixture.agent(
        "edit",
        "mkdir -p src\necho 'pub fn export() {}' > src/export.rs\necho 'edited src/export.rs'",
    );
    let worker = fixture.worker(&agent, &[]);
    let task = fixture.wait_for(&task_id, &worker, finished).await;
    assert_eq!(
        task.status,
        TaskStatus::Succeeded,
        "{task:?}\n{}",
        worker.log_text()
    );
    assert_eq!(task.attempt, 1);
    assert_eq!(
        task.files_changed.as_deref(),
        Some(&["src/export.rs".to_owned()][..])
    );
    assert!(
        task.log_tail
            .as_deref()
            .unwrap_or_default()
            .contains("edited src/export.rs")
    );
    let sha = task.commit_sha.clone().unwrap();

    // The branch holds the agent's change at the recorded commit, and no TASK.md.
    assert_eq!(
        fixture.git(&["rev-parse", &task.branch]).as_deref(),
        Some(sha.as_str())
    );
    assert_eq!(
        fixture
            .git(&["show", &format!("{}:src/export.rs", task.branch)])
            .as_deref(),
        Some("pub fn export() {}")
    );
    assert!(
        fixture
            .git(&["cat-file", "-e", &format!("{}:TASK.md", task.branch)])
            .is_none(),
        "TASK.md reached the branch tip"
    );
    let pull = fixture.pull_request(task.pr_number.unwrap()).await;
    assert!(!pull.draft, "the pull request is ready for review");
    assert!(pull.comments[0].contains(&sha) && pull.comments[0].contains("src/export.rs"));

    // Over HTTP: the task and the story's release.
    let read: Value = http
        .get(api.url(&format!("/code-tasks/{task_id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "succeeded");
    assert_eq!(read["commitSha"], sha.as_str());
    let story: Value = http
        .get(api.url(&format!("/stories/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(story.get("activeTaskId").is_none(), "{story}");
    api.stop().await;
}

#[tokio::test]
async fn a_killed_worker_task_is_finished_by_another_worker_on_attempt_2() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let agent = fixture.agent(
        "slow-then-fine",
        "if [ \"$AIPM_TASK_ATTEMPT\" = 1 ]; then echo $$ > \"$AIPM_SCRATCH/agent.pid\"; sleep 600; fi\necho done > done.txt",
    );
    // A short lease, so that the second worker may take over soon after the first one dies.
    let short_lease = [("AIPM_LEASE_SECONDS", "3")];
    let mut first = fixture.worker(&agent, &short_lease);
    fixture
        .wait_for(&task.task_id, &first, |task| {
            task.status == TaskStatus::Running
        })
        .await;
    let pid_file = fixture.scratch.join("agent.pid");
    while !pid_file.exists() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.kill().await;
    // The machine is gone: so is the agent it ran (its own process group, never ours).
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    kill_agent_group(pid.trim());

    let second = fixture.worker(&agent, &short_lease);
    let done = fixture.wait_for(&task.task_id, &second, finished).await;
    assert_eq!(
        done.status,
        TaskStatus::Succeeded,
        "{done:?}\n{}",
        second.log_text()
    );
    assert_eq!(done.attempt, 2);
}

#[tokio::test]
async fn an_agent_that_always_fails_fails_the_task_after_the_retry_limit() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let worker = fixture.worker(
        &fixture.agent("broken", "echo 'compiler exploded' >&2\nexit 3"),
        &[],
    );
    let done = fixture.wait_for(&task.task_id, &worker, finished).await;
    assert_eq!(done.status, TaskStatus::Failed, "{done:?}");
    assert_eq!(done.attempt, 2, "{done:?}");
    assert!(
        done.error.as_deref().unwrap_or_default().contains("exited"),
        "{done:?}"
    );
    assert!(
        done.log_tail
            .as_deref()
            .unwrap_or_default()
            .contains("compiler exploded")
    );
    let story = fixture.stories().get(task.story_id).await.unwrap().unwrap();
    assert_eq!(
        story.active_task_id, None,
        "a failed task must not block its story"
    );
}

#[tokio::test]
async fn an_agent_that_changes_nothing_is_a_failure_not_a_success() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let worker = fixture.worker(&fixture.agent("idle", "echo 'looked around'"), &[]);
    let done = fixture.wait_for(&task.task_id, &worker, finished).await;
    assert_eq!(done.status, TaskStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("the agent changed nothing"));
}

#[tokio::test]
async fn cancel_during_a_run_stops_the_agent_and_pushes_nothing() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let before = fixture.git(&["rev-parse", &task.branch]).unwrap();
    let agent = fixture.agent(
        "forever",
        "echo $$ > \"$AIPM_SCRATCH/agent.pid\"\necho partial > partial.txt\nsleep 600",
    );
    let worker = fixture.worker(&agent, &[]);
    fixture
        .wait_for(&task.task_id, &worker, |task| {
            task.status == TaskStatus::Running
        })
        .await;
    let pid_file = fixture.scratch.join("agent.pid");
    while !pid_file.exists() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fixture
        .tasks()
        .request_cancel(&task.task_id, Utc::now())
        .await
        .unwrap();
    let done = fixture.wait_for(&task.task_id, &worker, finished).await;
    assert_eq!(done.status, TaskStatus::Cancelled, "{done:?}");
    assert_eq!(
        fixture.git(&["rev-parse", &task.branch]).as_deref(),
        Some(before.as_str()),
        "nothing pushed"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(!running(pid.trim()), "the agent must be stopped");
}

#[tokio::test]
async fn an_agent_past_its_time_limit_times_out() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let worker = fixture.worker(
        &fixture.agent("sleepy", "sleep 600"),
        &[("AIPM_AGENT_TIMEOUT_SECONDS", "2")],
    );
    let done = fixture.wait_for(&task.task_id, &worker, finished).await;
    assert_eq!(done.status, TaskStatus::TimedOut, "{done:?}");
    assert!(
        done.error
            .as_deref()
            .unwrap_or_default()
            .contains("limit of 2s")
    );
}

#[tokio::test]
async fn an_unparsable_message_ends_in_the_dead_letter_queue() {
    let fixture = Fixture::start().await;
    let sqs = aws_sdk_sqs::Client::new(&fixture.sdk);
    let queue = fixture.config.code_tasks_queue_url.clone();
    sqs.send_message()
        .queue_url(&queue)
        .message_body("this is not a task")
        .send()
        .await
        .unwrap();
    let worker = fixture.worker(&fixture.agent("unused", "true"), &[]);
    let dead_letters = format!("{queue}-dlq");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&dead_letters)
            .send()
            .await
            .unwrap();
        if let Some(message) = received.messages().first() {
            assert_eq!(message.body(), Some("this is not a task"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the message never reached the DLQ\n{}",
            worker.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn sigterm_stops_taking_work_and_hands_back_a_running_task() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let mut worker = fixture.worker(&fixture.agent("long", "sleep 600"), &[]);
    // The grace period is 2 s; the worker then hands the task back and exits on its own.
    fixture
        .signal_while_running(&task.task_id, &mut worker, "-TERM")
        .await;
    let handed_back = fixture.tasks().get(&task.task_id).await.unwrap().unwrap();
    assert_eq!(handed_back.status, TaskStatus::Queued, "{handed_back:?}");
    assert_eq!(handed_back.worker_id, None);
    assert!(
        handed_back
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("shut down")
    );
    assert!(
        worker.log_text().contains("handing back"),
        "{}",
        worker.log_text()
    );
}

#[tokio::test]
async fn the_reconciler_redelivers_a_task_whose_queue_message_was_lost() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let sqs = aws_sdk_sqs::Client::new(&fixture.sdk);
    sqs.purge_queue()
        .queue_url(&fixture.config.code_tasks_queue_url)
        .send()
        .await
        .unwrap();
    let worker = fixture.worker(
        &fixture.agent("fine", "echo done > done.txt"),
        &[("AIPM_REQUEUE_AFTER_SECONDS", "1")],
    );
    let done = fixture.wait_for(&task.task_id, &worker, finished).await;
    assert_eq!(
        done.status,
        TaskStatus::Succeeded,
        "{done:?}\n{}",
        worker.log_text()
    );
    assert!(
        worker.log_text().contains("re-delivered a stale task"),
        "{}",
        worker.log_text()
    );
}

/// generate-code sends the task's message before it records the hand-off as done; a worker that
/// receives it in between must try again shortly rather than drop it (the reconciler, here an
/// hour away, would otherwise be the task's only way out of `queued`).
#[tokio::test]
async fn a_message_that_arrives_before_its_hand_off_is_recorded_is_taken_up_once_it_is() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&fixture.sdk);
    let set_hand_off = |stage: &'static str| {
        dynamodb
            .update_item()
            .table_name(&fixture.config.code_tasks_table)
            .key(
                "taskId",
                aws_sdk_dynamodb::types::AttributeValue::S(task.task_id.clone()),
            )
            .update_expression("SET handOff = :stage")
            .expression_attribute_values(
                ":stage",
                aws_sdk_dynamodb::types::AttributeValue::S(stage.to_owned()),
            )
            .send()
    };
    set_hand_off("pull_request_opened").await.unwrap();
    let agent = fixture.agent("writes", "echo done > done.txt");
    let worker = fixture.worker(&agent, &[("AIPM_RECONCILE_SECONDS", "3600")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !worker
        .log_text()
        .contains("hand-off is still being recorded")
    {
        assert!(
            Instant::now() < deadline,
            "the early delivery was not seen\n{}",
            worker.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    set_hand_off("enqueued").await.unwrap();
    let finished = fixture
        .wait_for(&task.task_id, &worker, |task| !task.status.is_active())
        .await;
    assert_eq!(finished.status, TaskStatus::Succeeded, "{finished:?}");
}

/// What systemd does on stop with `KillMode=mixed` (deploy/aipm-worker.service): SIGTERM to the
/// worker alone. An agent that finishes within the grace period finishes its task.
#[tokio::test]
async fn sigterm_to_the_worker_alone_lets_a_running_agent_finish_its_task() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let agent = fixture.agent(
        "finishing",
        "sleep 3\nmkdir -p src\necho 'pub fn done() {}' > src/done.rs",
    );
    let mut worker = fixture.worker(&agent, &[("AIPM_SHUTDOWN_GRACE_SECONDS", "30")]);
    fixture
        .signal_while_running(&task.task_id, &mut worker, "-TERM")
        .await;
    let finished = fixture.tasks().get(&task.task_id).await.unwrap().unwrap();
    assert_eq!(
        finished.status,
        TaskStatus::Succeeded,
        "{finished:?}\n{}",
        worker.log_text()
    );
    assert_eq!(
        fixture
            .git(&["show", &format!("{}:src/done.rs", finished.branch)])
            .as_deref(),
        Some("pub fn done() {}")
    );
}

/// With `AIPM_AGENT_USER` the agent runs as that unprivileged account: not the worker's uid,
/// none of the worker's environment (its AWS keys, its tables), none of its files; the worker
/// still commits what the agent wrote. Switching users needs root, which CI has.
#[tokio::test]
async fn the_agent_runs_as_its_own_user_without_the_workers_environment_or_files() {
    if !nix::unistd::Uid::effective().is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root: this test must run there"
        );
        eprintln!("skipped: switching to the agent's user needs root");
        return;
    }
    let fixture = Fixture::start().await;
    let nobody = aipm_worker::isolation::AgentUser::lookup("nobody").unwrap();
    // The agent's account must reach its checkout (and its script) inside the scratch folder, as
    // it reaches /var/lib/aipm-worker (mode 0711) on an instance: let others pass through every
    // folder above it, which scripts/test creates 0700.
    let temporary = std::env::temp_dir();
    for folder in fixture
        .scratch
        .ancestors()
        .filter(|folder| folder.starts_with(&temporary))
    {
        let mode = std::fs::metadata(folder).unwrap().permissions().mode();
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(mode | 0o001)).unwrap();
    }
    let secret = fixture.scratch.join("worker-only.txt");
    std::fs::write(&secret, "the worker's").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let task = fixture.generated_task().await;
    let agent = fixture.agent(
        "isolated",
        "id -u > agent-uid.txt\nenv | sort > agent-env.txt\npwd > agent-dir.txt\n\
         if cat \"$AIPM_SCRATCH/worker-only.txt\" >/dev/null 2>&1; then echo readable; else echo denied; fi > worker-file.txt\n\
         mkdir -p src && echo 'pub fn isolated() {}' > src/isolated.rs && chmod 000 src/isolated.rs",
    );
    let worker = fixture.worker(&agent, &[("AIPM_AGENT_USER", "nobody")]);
    let done = fixture.wait_for(&task.task_id, &worker, finished).await;
    assert_eq!(
        done.status,
        TaskStatus::Succeeded,
        "{done:?}\n{}",
        worker.log_text()
    );
    let file = |name: &str| {
        fixture
            .git(&["show", &format!("{}:{name}", done.branch)])
            .unwrap_or_else(|| panic!("{name} is not on the branch"))
    };
    assert_eq!(file("agent-uid.txt"), nobody.uid.to_string());
    assert_eq!(file("worker-file.txt"), "denied");
    assert!(
        file("agent-dir.txt").contains(&task.task_id),
        "the agent works in its task's checkout"
    );
    assert_eq!(
        file("src/isolated.rs"),
        "pub fn isolated() {}",
        "the worker takes back even a file the agent closed"
    );
    let environment = file("agent-env.txt");
    for line in environment.lines() {
        assert!(!line.starts_with("AWS_"), "the agent saw {line}");
        assert!(
            !line.starts_with("AIPM_STORIES_TABLE"),
            "the agent saw {line}"
        );
        assert!(!line.starts_with("AIPM_GITHUB"), "the agent saw {line}");
    }
    assert!(
        environment
            .lines()
            .any(|line| line == format!("HOME={}", nobody.home.display())),
        "{environment}"
    );
    assert!(environment.lines().any(|line| line == "USER=nobody"));
    assert!(
        environment
            .lines()
            .any(|line| line.starts_with("AIPM_TASK_ID=")),
        "the task's own variables reach it"
    );
}

/// Each preset's exact command line, run by the worker against a stand-in executable of the
/// same name that records its arguments, environment and working directory (and makes a
/// change, so that the task succeeds).
#[tokio::test]
async fn each_agent_preset_runs_its_documented_command_line() {
    use aipm_worker::presets::{AGENT_PROMPT, AIDER, CLAUDE_CODE, CODEX, Preset};
    let fixture = Fixture::start().await;
    let owned = |items: &[&str]| {
        items
            .iter()
            .map(|item| (*item).to_owned())
            .collect::<Vec<_>>()
    };
    /// A preset, the worker's settings for it, and what the stand-in must see.
    type Case = (
        Preset,
        &'static [(&'static str, &'static str)],
        Vec<String>,
        &'static str,
    );
    let cases: [Case; 3] = [
        (
            CLAUDE_CODE,
            &[
                ("ANTHROPIC_API_KEY", "sk-ant-test"),
                ("AIPM_AGENT_MODEL", "claude-sonnet-4-5"),
            ],
            owned(&[
                "-p",
                AGENT_PROMPT,
                "--output-format",
                "text",
                "--dangerously-skip-permissions",
                "--max-turns",
                "80",
                "--max-budget-usd",
                "5",
                "--model",
                "claude-sonnet-4-5",
            ]),
            "ANTHROPIC_API_KEY=sk-ant-test",
        ),
        (
            CODEX,
            &[("OPENAI_API_KEY", "sk-openai-test")],
            owned(&[
                "exec",
                "--sandbox",
                "workspace-write",
                "--skip-git-repo-check",
                "--ephemeral",
                "--color",
                "never",
                AGENT_PROMPT,
            ]),
            "OPENAI_API_KEY=sk-openai-test",
        ),
        (
            AIDER,
            &[
                ("ANTHROPIC_API_KEY", "sk-ant-test"),
                ("AIPM_AGENT_MODEL", "sonnet"),
            ],
            owned(&[
                "--message-file",
                "TASK.md",
                "--yes-always",
                "--no-auto-commits",
                "--no-dirty-commits",
                "--no-gitignore",
                "--no-check-update",
                "--no-analytics",
                "--no-pretty",
                "--no-stream",
                "--model",
                "sonnet",
            ]),
            "ANTHROPIC_API_KEY=sk-ant-test",
        ),
    ];
    for (preset, settings, expected_arguments, key_line) in cases {
        let bin = fixture.scratch.join(format!("bin-{}", preset.name));
        std::fs::create_dir_all(&bin).unwrap();
        let stand_in = bin.join(preset.program);
        std::fs::write(
            &stand_in,
            "#!/bin/sh\nfor argument in \"$@\"; do printf '%s\\n' \"$argument\"; done > agent-args.txt\n\
             env | sort > agent-env.txt\npwd > agent-dir.txt\n\
             if [ -f TASK.md ]; then echo present; else echo missing; fi > agent-brief.txt\n\
             mkdir -p src && echo 'pub fn preset() {}' > src/preset.rs\n",
        )
        .unwrap();
        std::fs::set_permissions(
            &stand_in,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let task = fixture.generated_task().await;
        // A killed worker's last long poll may still take the next task's message in the
        // emulator; the reconciler sends a task again once it has waited 2 s.
        let mut extra = vec![
            ("AIPM_AGENT_PRESET", preset.name),
            ("AIPM_AGENT_COMMAND", ""),
            ("AIPM_REQUEUE_AFTER_SECONDS", "2"),
            ("PATH", path.as_str()),
        ];
        extra.extend_from_slice(settings);
        let mut worker = fixture.worker("", &extra);
        let done = fixture.wait_for(&task.task_id, &worker, finished).await;
        assert_eq!(
            done.status,
            TaskStatus::Succeeded,
            "{}: {done:?}\n{}",
            preset.name,
            worker.log_text()
        );
        let file = |name: &str| {
            fixture
                .git(&["show", &format!("{}:{name}", done.branch)])
                .unwrap_or_else(|| panic!("{}: {name} is not on the branch", preset.name))
        };
        let arguments: Vec<String> = file("agent-args.txt").lines().map(str::to_owned).collect();
        assert_eq!(arguments, expected_arguments, "{}", preset.name);
        let environment = file("agent-env.txt");
        assert!(
            environment.lines().any(|line| line == key_line),
            "{}: {environment}",
            preset.name
        );
        assert!(
            !environment.lines().any(|line| line.starts_with("AWS_")),
            "{}: the worker's AWS settings reached the agent",
            preset.name
        );
        assert!(
            file("agent-dir.txt").contains(&task.task_id),
            "{}",
            preset.name
        );
        assert_eq!(file("agent-brief.txt"), "present", "{}", preset.name);
        worker.kill().await;
    }
}

/// aipm-drain's SIGUSR1: no new work, and running tasks get the long drain grace, not the short
/// stop grace (here 1 s, which would hand the task back).
#[tokio::test]
async fn sigusr1_drains_with_the_drain_grace_and_the_running_task_finishes() {
    let fixture = Fixture::start().await;
    let task = fixture.generated_task().await;
    let agent = fixture.agent(
        "draining",
        "sleep 3\nmkdir -p src\necho 'pub fn drained() {}' > src/drained.rs",
    );
    let mut worker = fixture.worker(
        &agent,
        &[
            ("AIPM_SHUTDOWN_GRACE_SECONDS", "1"),
            ("AIPM_DRAIN_GRACE_SECONDS", "60"),
        ],
    );
    fixture
        .signal_while_running(&task.task_id, &mut worker, "-USR1")
        .await;
    let drained = fixture.tasks().get(&task.task_id).await.unwrap().unwrap();
    assert_eq!(
        drained.status,
        TaskStatus::Succeeded,
        "{drained:?}\n{}",
        worker.log_text()
    );
    assert!(
        worker.log_text().contains("\"grace_seconds\":60"),
        "{}",
        worker.log_text()
    );
}
