//! End to end over HTTP on the local stack with the `local_git` code host: generate-code opens a
//! branch with TASK.md and a draft pull request in a real bare repository, records the task and
//! queues it; idempotency, one active task per story, and cancel.

use std::collections::HashSet;
use std::path::Path;

use aipm_tests::HttpStack;
use serde_json::{Value, json};

/// Stories that can be built, made over HTTP.
trait Stories {
    async fn ready_story(&self, title: &str) -> u64;
}

impl Stories for HttpStack {
    /// A story with a passing INVEST check and one acceptance test, moved to Ready.
    async fn ready_story(&self, title: &str) -> u64 {
        let (status, story) = self
            .send_keyed(
                "POST",
                "/stories",
                Some(json!({
                    "title": title, "asA": "product manager", "iWant": "to export the story tree as CSV",
                    "soThat": "I can share progress"
                })),
                None,
            )
            .await;
        assert_eq!(status, 201, "{story}");
        let id = story["id"].as_u64().unwrap();
        let (status, test) = self
            .send_keyed(
                "POST",
                &format!("/stories/{id}/tests"),
                Some(json!({"title": "CSV", "given": ["3 stories"], "when": ["the PM exports"], "then": ["a CSV with 3 rows is downloaded"]})),
                None,
            )
            .await;
        assert_eq!(status, 201, "{test}");
        let (status, ready) = self
            .send_keyed(
                "PATCH",
                &format!("/stories/{id}"),
                Some(json!({"status": "Ready"})),
                None,
            )
            .await;
        assert_eq!(status, 200, "{ready}");
        id
    }
}

pub fn git(repository: &Path, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(repository)
        .args(args)
        .output()
        .unwrap();
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn branches(repository: &Path, story: u64) -> Vec<String> {
    git(
        repository,
        &[
            "for-each-ref",
            "--format=%(refname:short)",
            &format!("refs/heads/aipm/AIPM-{story}-*"),
        ],
    )
    .unwrap_or_default()
    .lines()
    .map(str::to_owned)
    .collect()
}

fn pull_requests(repository: &Path) -> Vec<Value> {
    let dir = repository.join("aipm/pulls");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "json"))
        .map(|entry| serde_json::from_str(&std::fs::read_to_string(entry.path()).unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn generate_code_hands_a_ready_story_to_the_queue_once() {
    let stack = HttpStack::start().await;
    let story = stack.ready_story("Export stories as CSV").await;

    let (status, task) = stack
        .send_keyed(
            "POST",
            &format!("/stories/{story}/generate-code"),
            Some(json!({"instructions": "Keep it small"})),
            Some("first"),
        )
        .await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["status"], "queued");
    assert_eq!(task["handOff"], "enqueued");
    let task_id = task["taskId"].as_str().unwrap().to_owned();
    let branch = task["branch"].as_str().unwrap().to_owned();
    assert!(
        branch.starts_with(&format!("aipm/AIPM-{story}-export-stories-as-csv-")),
        "{branch}"
    );

    // The branch in the bare repository holds the brief on top of main.
    let brief = git(&stack.repository, &["show", &format!("{branch}:TASK.md")])
        .expect("TASK.md on the branch");
    assert!(
        brief.contains("Export stories as CSV") && brief.contains("Keep it small"),
        "{brief}"
    );
    assert!(
        git(
            &stack.repository,
            &["merge-base", "--is-ancestor", "main", &branch]
        )
        .is_some()
    );
    let pulls = pull_requests(&stack.repository);
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        (pulls[0]["draft"].clone(), pulls[0]["branch"].clone()),
        (json!(true), json!(branch))
    );
    assert_eq!(task["prNumber"], pulls[0]["number"]);

    // The queue holds the task id.
    let sdk = stack.emulator.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let received = sqs
        .receive_message()
        .queue_url(stack.setting("AIPM_CODE_TASKS_QUEUE_URL"))
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let bodies: Vec<Value> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies, vec![json!({"taskId": task_id})]);

    // The story is In Progress with this active task, listed among its code tasks.
    let (_, view) = stack
        .send_keyed("GET", &format!("/stories/{story}"), None, None)
        .await;
    assert_eq!(view["status"], "In Progress");
    assert_eq!(view["activeTaskId"], task_id.as_str());
    assert_eq!(view["codeTasks"][0]["taskId"], task_id.as_str());
    let (status, read) = stack
        .send_keyed("GET", &format!("/code-tasks/{task_id}"), None, None)
        .await;
    assert_eq!((status, read["branch"].clone()), (200, json!(branch)));

    // The same key replays; a different body with it is refused; a new request is refused.
    let (status, replay) = stack
        .send_keyed(
            "POST",
            &format!("/stories/{story}/generate-code"),
            Some(json!({"instructions": "Keep it small"})),
            Some("first"),
        )
        .await;
    assert_eq!((status, replay["taskId"].clone()), (200, json!(task_id)));
    let (status, reused) = stack
        .send_keyed(
            "POST",
            &format!("/stories/{story}/generate-code"),
            Some(json!({"instructions": "Other"})),
            Some("first"),
        )
        .await;
    assert_eq!(
        (status, reused["error"]["code"].clone()),
        (422, json!("IDEMPOTENCY_KEY_REUSED"))
    );
    let (status, busy) = stack
        .send_keyed(
            "POST",
            &format!("/stories/{story}/generate-code"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, busy["error"]["code"].clone()),
        (409, json!("ACTIVE_TASK_EXISTS"))
    );
    assert_eq!(busy["error"]["details"]["taskId"], task_id.as_str());

    // Cancelling the queued task frees the story for a new one.
    let (status, cancelled) = stack
        .send_keyed("POST", &format!("/code-tasks/{task_id}/cancel"), None, None)
        .await;
    assert_eq!(
        (status, cancelled["status"].clone()),
        (200, json!("cancelled"))
    );
    let (status, again) = stack
        .send_keyed("POST", &format!("/code-tasks/{task_id}/cancel"), None, None)
        .await;
    assert_eq!(
        (status, again["error"]["code"].clone()),
        (409, json!("TASK_ALREADY_FINISHED"))
    );
    // Its pull request is still open: another run belongs on it, unless a new one is asked for.
    let (status, refused) = stack
        .send_keyed(
            "POST",
            &format!("/stories/{story}/generate-code"),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].clone()),
        (409, json!("PULL_REQUEST_OPEN")),
        "{refused}"
    );
    let (status, second) = stack
        .send_keyed(
            "POST",
            &format!("/stories/{story}/generate-code"),
            Some(json!({"newPullRequest": true})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{second}");
    assert_ne!(second["prNumber"], refused["error"]["details"]["prNumber"]);
    assert_ne!(second["taskId"], task_id.as_str());

    // A Draft story cannot be built.
    let (_, draft) = stack
        .send_keyed(
            "POST",
            "/stories",
            Some(json!({"title": "Not ready"})),
            None,
        )
        .await;
    let (status, refused) = stack
        .send_keyed(
            "POST",
            &format!("/stories/{}/generate-code", draft["id"]),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].clone()),
        (409, json!("STORY_NOT_READY"))
    );
}

#[tokio::test]
async fn twenty_concurrent_requests_with_one_key_make_one_task_branch_and_pull_request() {
    let stack = HttpStack::start().await;
    let story = stack.ready_story("Import stories").await;
    let path = format!("/stories/{story}/generate-code");
    let requests = (0..20).map(|_| stack.send_keyed("POST", &path, None, Some("the-one-key")));
    let mut task_ids = HashSet::new();
    for (status, task) in futures::future::join_all(requests).await {
        assert!(status == 202 || status == 200, "{status} {task}");
        task_ids.insert(task["taskId"].as_str().unwrap().to_owned());
    }
    assert_eq!(task_ids.len(), 1, "{task_ids:?}");
    assert_eq!(branches(&stack.repository, story).len(), 1);
    assert_eq!(pull_requests(&stack.repository).len(), 1);
}
