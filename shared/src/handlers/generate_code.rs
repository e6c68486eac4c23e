//! POST /stories/{id}/generate-code: records a code task, opens a branch with TASK.md and a
//! draft pull request, and hands the task to the worker through the queue.
//!
//! Every step after recording the task is idempotent and its progress is recorded
//! (`handOff`), so a retry — the same Idempotency-Key, or any new request while the story's task
//! has not been handed off — resumes where a failed or crashed attempt stopped and converges on
//! one task, one branch and one pull request.

use chrono::{Duration, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::handlers::follow_ups::pull_request_task;
use crate::handlers::views::TaskView;
use crate::http::{Operation, parse_json_body, path_parameter};
use crate::model::{CodeTask, HandOffStage, Story, StoryStatus, TaskStatus};
use crate::ports::{
    AcceptanceTestRepository, CodeHost, CodeTaskRepository, CreateTaskOutcome, PullRequestStatus,
    StoryRepository, TaskQueue,
};
use crate::rules::brief::{
    BRIEF_PATH, branch_name, pull_request_body, request_fingerprint, task_brief, task_id_for_key,
};
use crate::validation::parse_story_id;

pub const INSTRUCTIONS_MAX_CHARS: usize = 4_000;
/// How long a request may take to hand a task off before another request may take over (a
/// request that fails releases it at once).
const HAND_OFF_SECONDS: i64 = 30;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GenerateCodeBody {
    instructions: Option<String>,
    /// Open another pull request although the story's last one is still open.
    #[serde(default)]
    new_pull_request: bool,
}

pub struct GenerateCode<S, T, K, Q, H> {
    stories: S,
    tests: T,
    tasks: K,
    queue: Q,
    host: H,
}

impl<S, T, K, Q, H> GenerateCode<S, T, K, Q, H>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost,
{
    pub fn new(stories: S, tests: T, tasks: K, queue: Q, host: H) -> Self {
        Self {
            stories,
            tests,
            tasks,
            queue,
            host,
        }
    }

    /// Branch, brief, draft pull request, queue: each skipped if already done.
    async fn hand_off(&self, story: &Story, mut task: CodeTask) -> Result<CodeTask> {
        if task.hand_off < HandOffStage::PullRequestOpened {
            let tests = self.tests.list(story.id).await?;
            self.host.ensure_branch(&task.branch).await?;
            let brief = task_brief(story, &tests, task.instructions.as_deref());
            self.host
                .ensure_file(
                    &task.branch,
                    BRIEF_PATH,
                    &brief,
                    &format!("Add the brief for story {}", story.id),
                )
                .await?;
            let pull = self
                .host
                .ensure_draft_pull_request(
                    &task.branch,
                    &format!("Story {}: {}", story.id, story.title),
                    &pull_request_body(story, &task.task_id, &tests),
                )
                .await?;
            self.tasks
                .record_hand_off(
                    &task.task_id,
                    HandOffStage::PullRequestOpened,
                    Some(&pull),
                    Utc::now(),
                )
                .await?;
            task.pr_number = Some(pull.number);
            task.pr_url = Some(pull.url);
            task.hand_off = HandOffStage::PullRequestOpened;
        }
        if task.hand_off < HandOffStage::Enqueued {
            self.queue.send(&task.task_id).await?;
            self.tasks
                .record_hand_off(&task.task_id, HandOffStage::Enqueued, None, Utc::now())
                .await?;
            task.hand_off = HandOffStage::Enqueued;
        }
        Ok(task)
    }

    /// Hands off; on failure releases the claim so that the client's retry resumes at once.
    async fn hand_off_or_release(&self, story: &Story, task: CodeTask) -> Result<CodeTask> {
        let task_id = task.task_id.clone();
        match self.hand_off(story, task).await {
            Ok(task) => Ok(task),
            Err(error) => {
                if let Err(release) = self.tasks.release_hand_off(&task_id).await {
                    tracing::warn!(%task_id, error = %release, "could not release the hand-off");
                }
                Err(error)
            }
        }
    }

    /// An existing task: a replay of the same request, or one to resume.
    async fn existing(
        &self,
        story: &Story,
        task: CodeTask,
        key: Option<&str>,
        fingerprint: &str,
    ) -> Result<Response<Body>> {
        let same_key = key.is_some() && task.idempotency_key.as_deref() == key;
        if same_key && task.request_fingerprint.as_deref() != Some(fingerprint) {
            return Err(Error::IdempotencyKeyReused {
                task_id: task.task_id,
            });
        }
        let stalled = task.status == TaskStatus::Queued
            && task.hand_off < HandOffStage::Enqueued
            && task.hand_off_until.is_none_or(|until| until < Utc::now());
        if stalled {
            tracing::info!(task_id = %task.task_id, stage = ?task.hand_off, "resuming a hand-off");
            let task = self.hand_off_or_release(story, task).await?;
            return Ok(TaskView(&task).respond(StatusCode::ACCEPTED));
        }
        if same_key || (task.status.is_active() && task.hand_off < HandOffStage::Enqueued) {
            return Ok(TaskView(&task).respond(StatusCode::OK));
        }
        Err(Error::ActiveTaskExists {
            task_id: task.task_id,
        })
    }
}

impl<S, T, K, Q, H> GenerateCode<S, T, K, Q, H>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost,
{
    /// Work on a story whose pull request is open belongs on that pull request (a revision),
    /// not on a second one.
    async fn refuse_while_pull_request_open(&self, story_id: u64) -> Result<()> {
        let Some(previous) = pull_request_task(&self.tasks, story_id, None).await? else {
            return Ok(());
        };
        let pr_number = previous.pr_number.unwrap_or_default();
        match self.host.pull_request_state(pr_number).await?.status {
            PullRequestStatus::Open => Err(Error::PullRequestOpen {
                pr_number,
                pr_url: previous.pr_url,
                task_id: previous.task_id,
            }),
            PullRequestStatus::Merged | PullRequestStatus::Closed => Ok(()),
        }
    }
}

fn idempotency_key(request: &Request) -> Result<Option<String>> {
    let Some(raw) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw
        .to_str()
        .map_err(|_| Error::InvalidIdempotencyKey)?
        .trim();
    if key.is_empty() || key.len() > 128 || !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(Error::InvalidIdempotencyKey);
    }
    Ok(Some(key.to_owned()))
}

impl<S, T, K, Q, H> Operation for GenerateCode<S, T, K, Q, H>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let story_id = parse_story_id(&path_parameter(&request, "id").unwrap_or_default())?;
        let key = idempotency_key(&request)?;
        let empty_body = request.body().as_ref().iter().all(u8::is_ascii_whitespace);
        let body: GenerateCodeBody = if empty_body {
            GenerateCodeBody::default()
        } else {
            parse_json_body(&request)?
        };
        let new_pull_request = body.new_pull_request;
        let instructions = body
            .instructions
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty());
        if let Some(text) = &instructions
            && text.chars().count() > INSTRUCTIONS_MAX_CHARS
        {
            return Err(Error::Validation(vec![crate::error::FieldError::new(
                "instructions",
                "TOO_LONG",
                format!("instructions are limited to {INSTRUCTIONS_MAX_CHARS} characters"),
            )]));
        }
        let fingerprint = request_fingerprint(story_id, instructions.as_deref());

        let keyed_id = key.as_deref().map(|key| task_id_for_key(story_id, key));
        for _ in 0..3 {
            // The story and the task the key names are read in one round trip: neither read
            // needs the other.
            let (story, keyed_task) = tokio::join!(self.stories.get(story_id), async {
                match &keyed_id {
                    Some(task_id) => self.tasks.get(task_id).await,
                    None => Ok(None),
                }
            });
            let story = story?.ok_or(Error::StoryNotFound { id: story_id })?;
            // The same key always names the same task, finished or not.
            if let Some(task) = keyed_task? {
                return self
                    .existing(&story, task, key.as_deref(), &fingerprint)
                    .await;
            }
            if let Some(active) = &story.active_task_id {
                if let Some(task) = self.tasks.get(active).await? {
                    return self
                        .existing(&story, task, key.as_deref(), &fingerprint)
                        .await;
                }
                return Err(Error::ActiveTaskExists {
                    task_id: active.clone(),
                });
            }
            if !matches!(story.status, StoryStatus::Ready | StoryStatus::InProgress) {
                return Err(Error::StoryNotReady {
                    status: story.status.as_str(),
                });
            }
            if !new_pull_request {
                self.refuse_while_pull_request_open(story_id).await?;
            }
            let task_id = keyed_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            let now = Utc::now();
            let mut task = CodeTask::queued(task_id, story_id, String::new(), now);
            task.branch = branch_name(&story, &task.task_id);
            task.hand_off_until = Some(now + Duration::seconds(HAND_OFF_SECONDS));
            task.idempotency_key = key.clone();
            task.request_fingerprint = Some(fingerprint.clone());
            task.instructions = instructions.clone();
            match self.tasks.create_for_story(&task, &story).await? {
                CreateTaskOutcome::Created => {
                    tracing::info!(task_id = %task.task_id, story_id, "code task recorded");
                    crate::telemetry::count_task_created();
                    let task = self.hand_off_or_release(&story, task).await?;
                    return Ok(TaskView(&task).respond(StatusCode::ACCEPTED));
                }
                // Another request won a race on the same key or the story: look again.
                CreateTaskOutcome::TaskExists | CreateTaskOutcome::StoryChanged => continue,
            }
        }
        Err(Error::ConcurrentUpdate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryCodeHost, MemoryStore};
    use crate::handlers::test_support::{
        error_code, json, request, seed_story, seed_test, with_path,
    };
    use crate::http::respond;
    use crate::ports::StoryChanges;
    use lambda_http::http::Method;

    type Operation =
        GenerateCode<MemoryStore, MemoryStore, MemoryStore, MemoryStore, MemoryCodeHost>;

    async fn ready_story(store: &MemoryStore) -> u64 {
        let story = seed_story(store, "Export stories as CSV", None).await;
        seed_test(store, story.id, "a CSV with 3 rows is downloaded").await;
        let changes = StoryChanges {
            status: Some(StoryStatus::Ready),
            ..StoryChanges::default()
        };
        StoryRepository::update(store, story.id, &changes, &Default::default(), Utc::now())
            .await
            .unwrap();
        story.id
    }

    fn operation(store: &MemoryStore, host: &MemoryCodeHost) -> Operation {
        GenerateCode::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            host.clone(),
        )
    }

    async fn post(
        operation: &Operation,
        story: u64,
        body: &str,
        key: Option<&str>,
    ) -> Response<Body> {
        let mut request = with_path(request(Method::POST, "/x", body), "id", &story.to_string());
        if let Some(key) = key {
            request
                .headers_mut()
                .insert("idempotency-key", key.parse().unwrap());
        }
        respond(operation, request).await
    }

    #[tokio::test]
    async fn a_ready_story_gets_a_branch_brief_draft_pr_and_a_queued_task() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let story = ready_story(&store).await;
        let operation = operation(&store, &host);
        let response = post(
            &operation,
            story,
            r#"{"instructions":"Use the csv module"}"#,
            None,
        )
        .await;
        assert_eq!(response.status(), 202);
        let task = json(&response);
        assert_eq!(task["status"], "queued");
        assert_eq!(task["handOff"], "enqueued");
        assert_eq!(task["prNumber"], 1);
        let branch = task["branch"].as_str().unwrap();
        assert!(
            branch.starts_with("aipm/story-1-export-stories-as-csv-"),
            "{branch}"
        );
        let state = host.state();
        assert!(state.branches.contains(branch));
        let brief = &state.files[&(branch.to_owned(), "TASK.md".to_owned())];
        assert!(brief.contains("Use the csv module") && brief.contains("a CSV with 3 rows"));
        assert_eq!(
            store.sent_task_ids(),
            vec![task["taskId"].as_str().unwrap().to_owned()]
        );
        let story = futures::executor::block_on(StoryRepository::get(&store, story))
            .unwrap()
            .unwrap();
        assert_eq!(story.status, StoryStatus::InProgress);
        assert_eq!(story.active_task_id.as_deref(), task["taskId"].as_str());
    }

    #[tokio::test]
    async fn a_hand_off_in_flight_is_reported_not_repeated() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let story = ready_story(&store).await;
        let operation = operation(&store, &host);
        host.state().unavailable = true;
        assert_eq!(post(&operation, story, "", Some("k")).await.status(), 503);
        let task_id = CodeTaskRepository::recent_for_story(&store, story)
            .await
            .unwrap()[0]
            .task_id
            .clone();
        // Pretend another request has just taken the hand-off over.
        store.set_hand_off_until(&task_id, Utc::now() + Duration::seconds(30));
        host.state().unavailable = false;
        let in_flight = post(&operation, story, "", Some("k")).await;
        assert_eq!(in_flight.status(), 200);
        assert_eq!(json(&in_flight)["handOff"], "recorded");
        assert!(store.sent_task_ids().is_empty());
    }

    #[tokio::test]
    async fn one_active_task_per_story_and_only_buildable_stories() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let story = ready_story(&store).await;
        let operation = operation(&store, &host);
        let first = json(&post(&operation, story, "", None).await);
        let second = post(&operation, story, "", None).await;
        assert_eq!(second.status(), 409);
        assert_eq!(error_code(&second), "ACTIVE_TASK_EXISTS");
        assert_eq!(json(&second)["error"]["details"]["taskId"], first["taskId"]);
        let draft = seed_story(&store, "Draft story", None).await;
        let refused = post(&operation, draft.id, "", None).await;
        assert_eq!(error_code(&refused), "STORY_NOT_READY");
        assert_eq!(
            error_code(&post(&operation, 99, "", None).await),
            "STORY_NOT_FOUND"
        );
    }

    #[tokio::test]
    async fn an_open_pull_request_points_at_revisions_unless_a_new_one_is_asked_for() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let story = ready_story(&store).await;
        let operation = operation(&store, &host);
        let first = json(&post(&operation, story, "", None).await);
        store.finish_task(first["taskId"].as_str().unwrap(), TaskStatus::Succeeded);
        let refused = post(&operation, story, "", None).await;
        assert_eq!(refused.status(), 409);
        assert_eq!(error_code(&refused), "PULL_REQUEST_OPEN");
        assert_eq!(json(&refused)["error"]["details"]["prNumber"], 1);
        assert!(
            json(&refused)["error"]["message"]
                .as_str()
                .unwrap()
                .contains("request changes")
        );
        let second = post(&operation, story, r#"{"newPullRequest":true}"#, None).await;
        assert_eq!(second.status(), 202);
        assert_eq!(json(&second)["prNumber"], 2);
        store.finish_task(
            json(&second)["taskId"].as_str().unwrap(),
            TaskStatus::Failed,
        );
        host.state()
            .closed
            .insert(2, crate::ports::PullRequestStatus::Closed);
        assert_eq!(post(&operation, story, "", None).await.status(), 202);
    }

    #[tokio::test]
    async fn the_same_key_is_the_same_task_and_a_different_body_is_422() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let story = ready_story(&store).await;
        let operation = operation(&store, &host);
        let first = post(&operation, story, r#"{"instructions":"a"}"#, Some("key-1")).await;
        assert_eq!(first.status(), 202);
        let replay = post(&operation, story, r#"{"instructions":"a"}"#, Some("key-1")).await;
        assert_eq!(replay.status(), 200);
        assert_eq!(json(&replay)["taskId"], json(&first)["taskId"]);
        let different = post(&operation, story, r#"{"instructions":"b"}"#, Some("key-1")).await;
        assert_eq!(different.status(), 422);
        assert_eq!(error_code(&different), "IDEMPOTENCY_KEY_REUSED");
        assert_eq!(host.state().pulls.len(), 1);
        assert_eq!(store.sent_task_ids().len(), 1);
        assert_eq!(
            error_code(&post(&operation, story, "", Some("bad key")).await),
            "INVALID_IDEMPOTENCY_KEY"
        );
    }

    #[tokio::test]
    async fn a_code_host_outage_is_503_and_a_retry_resumes_without_duplicates() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let story = ready_story(&store).await;
        let operation = operation(&store, &host);
        host.state().unavailable = true;
        let failed = post(&operation, story, "", Some("k")).await;
        assert_eq!(failed.status(), 503);
        assert_eq!(error_code(&failed), "CODE_HOST_UNAVAILABLE");
        assert!(store.sent_task_ids().is_empty());
        host.state().unavailable = false;
        // The failed request released the hand-off, so the retry resumes it at once.
        let task_id = CodeTaskRepository::recent_for_story(&store, story)
            .await
            .unwrap()[0]
            .task_id
            .clone();
        let resumed = post(&operation, story, "", Some("k")).await;
        assert_eq!(resumed.status(), 202);
        assert_eq!(json(&resumed)["handOff"], "enqueued");
        assert_eq!(host.state().pulls.len(), 1);
        assert_eq!(store.sent_task_ids(), vec![task_id]);
    }
}
