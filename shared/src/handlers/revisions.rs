//! POST /stories/{id}/change-requests ("Request changes" in AIPM itself) and
//! POST /code-tasks/{taskId}/retry: both start a task on the story's existing branch and pull
//! request, never a new one.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, FieldError, Result};
use crate::handlers::follow_ups::{self, Started};
use crate::handlers::views::TaskView;
use crate::http::{Operation, parse_json_body};
use crate::model::{StoryStatus, Trigger, TriggerKind};
use crate::ports::{CodeHost, CodeTaskRepository, ProjectDirectory, StoryRepository, TaskQueue};

pub const FEEDBACK_MAX_CHARS: usize = 4_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChangeRequestBody {
    feedback: Option<String>,
}

pub struct RequestChanges<S, K, Q, H, G> {
    stories: S,
    tasks: K,
    queue: Q,
    host: H,
    gate: Gate<G>,
}

impl<S, K, Q, H, G> RequestChanges<S, K, Q, H, G> {
    pub fn new(stories: S, tasks: K, queue: Q, host: H, gate: Gate<G>) -> Self {
        Self {
            stories,
            tasks,
            queue,
            host,
            gate,
        }
    }
}

fn feedback_from(body: ChangeRequestBody) -> Result<String> {
    let feedback = body.feedback.unwrap_or_default().trim().to_owned();
    let problem = if feedback.is_empty() {
        Some(("REQUIRED", "say what should change".to_owned()))
    } else if feedback.chars().count() > FEEDBACK_MAX_CHARS {
        Some((
            "TOO_LONG",
            format!("feedback is limited to {FEEDBACK_MAX_CHARS} characters"),
        ))
    } else {
        None
    };
    match problem {
        Some((code, message)) => Err(Error::Validation(vec![FieldError::new(
            "feedback", code, message,
        )])),
        None => Ok(feedback),
    }
}

impl<S, K, Q, H, G> Operation for RequestChanges<S, K, Q, H, G>
where
    S: StoryRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self.gate.enter(&request, ProjectRef::of(&request)).await?;
        let story_id = access.path_story(&request)?;
        let feedback = feedback_from(parse_json_body(&request)?)?;
        let story = self
            .stories
            .get(story_id)
            .await?
            .ok_or(Error::StoryNotFound { id: story_id })?;
        if !matches!(story.status, StoryStatus::Ready | StoryStatus::InProgress) {
            return Err(Error::StoryNotReady {
                status: story.status.as_str(),
            });
        }
        let previous = follow_ups::pull_request_task(&self.tasks, story_id, None)
            .await?
            .ok_or(Error::NoPullRequest { story_id })?;
        self.gate
            .require_on_task(
                &access,
                Action::RequestChanges,
                &previous,
                request.uri().path(),
            )
            .await?;
        follow_ups::require_open(&self.host, &previous).await?;
        let trigger = Trigger {
            body: Some(feedback),
            ..Trigger::new(
                TriggerKind::Request,
                uuid::Uuid::new_v4().simple().to_string(),
                access.caller.sub.clone(),
                Utc::now(),
            )
        };
        match follow_ups::start(
            &self.stories,
            &self.tasks,
            &self.queue,
            &previous,
            Some(story),
            vec![trigger],
            Vec::new(),
        )
        .await?
        {
            Started::Task(task) | Started::Waiting(task) => {
                Ok(TaskView(&task).respond(StatusCode::ACCEPTED))
            }
            // Without once-keys a request is never a duplicate.
            Started::Duplicate => Err(Error::ConcurrentUpdate),
        }
    }
}

pub struct RetryCodeTask<S, K, Q, H, G> {
    stories: S,
    tasks: K,
    queue: Q,
    host: H,
    gate: Gate<G>,
}

impl<S, K, Q, H, G> RetryCodeTask<S, K, Q, H, G> {
    pub fn new(stories: S, tasks: K, queue: Q, host: H, gate: Gate<G>) -> Self {
        Self {
            stories,
            tasks,
            queue,
            host,
            gate,
        }
    }
}

impl<S, K, Q, H, G> Operation for RetryCodeTask<S, K, Q, H, G>
where
    S: StoryRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let (access, task) = crate::handlers::code_tasks::task_acted_on(
            &self.gate,
            &self.tasks,
            &request,
            Action::RetryTask,
        )
        .await?;
        let task_id = task.task_id.clone();
        let recent = self.tasks.recent_for_story(task.story_id).await?;
        // A second click (or a replayed request) finds the retry the first one started.
        if let Some(retry) = recent.iter().find(|later| {
            later.parent_task_id.as_deref() == Some(task_id.as_str())
                && later
                    .triggers
                    .iter()
                    .any(|trigger| trigger.kind == TriggerKind::Retry && trigger.id == task_id)
        }) {
            return Ok(TaskView(retry).respond(StatusCode::OK));
        }
        if let Some(latest) = recent.first()
            && latest.task_id != task_id
        {
            return Err(Error::TaskSuperseded {
                task_id,
                latest_task_id: latest.task_id.clone(),
            });
        }
        if !task.is_retryable() {
            return Err(Error::TaskNotRetryable {
                task_id,
                status: task.status.as_str(),
            });
        }
        follow_ups::require_open(&self.host, &task).await?;
        let trigger = Trigger::new(
            TriggerKind::Retry,
            task_id.clone(),
            access.caller.sub.clone(),
            Utc::now(),
        );
        let started = follow_ups::start(
            &self.stories,
            &self.tasks,
            &self.queue,
            &task,
            None,
            vec![trigger],
            vec![format!("retry:{task_id}")],
        )
        .await?;
        match started {
            Started::Task(next) => Ok(TaskView(&next).respond(StatusCode::ACCEPTED)),
            Started::Waiting(active) => Err(Error::ActiveTaskExists {
                task_id: active.task_id,
            }),
            // Another request started the retry between our read and our write.
            Started::Duplicate => {
                let retry = self
                    .tasks
                    .recent_for_story(task.story_id)
                    .await?
                    .into_iter()
                    .find(|later| later.parent_task_id.as_deref() == Some(task_id.as_str()))
                    .ok_or(Error::ConcurrentUpdate)?;
                Ok(TaskView(&retry).respond(StatusCode::OK))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryCodeHost, MemoryStore};
    use crate::adapters::memory_projects::local_gate;

    use crate::handlers::test_support::{
        error_code, generate_code, json, request, seed_ready_story, with_path,
    };
    use crate::http::respond;
    use crate::model::{TaskKind, TaskStatus};
    use crate::ports::PullRequestStatus;
    use lambda_http::http::Method;

    /// A story with a finished first task and its pull request #1.
    async fn story_with_pull_request(store: &MemoryStore, host: &MemoryCodeHost) -> String {
        let story = seed_ready_story(store, "Export", "a file is downloaded").await;
        let task = generate_code(store, host, story.id).await;
        task["taskId"].as_str().unwrap().to_owned()
    }

    fn change_request(body: &str) -> Request {
        with_path(request(Method::POST, "/x", body), "id", "1")
    }

    fn retry_request(task_id: &str) -> Request {
        with_path(request(Method::POST, "/x", ""), "taskId", task_id)
    }

    #[tokio::test]
    async fn requested_changes_wait_for_the_active_task_then_start_a_revision() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let first = story_with_pull_request(&store, &host).await;
        let operation = RequestChanges::new(
            store.clone(),
            store.clone(),
            store.clone(),
            host.clone(),
            local_gate(),
        );
        let waiting = respond(&operation, change_request(r#"{"feedback":"Use tabs"}"#)).await;
        assert_eq!(waiting.status(), 202);
        assert_eq!(json(&waiting)["taskId"], first.as_str());
        assert_eq!(json(&waiting)["pendingTriggers"][0]["body"], "Use tabs");

        store.finish_task(&first, TaskStatus::Succeeded);
        let started = respond(&operation, change_request(r#"{"feedback":"Add a header"}"#)).await;
        assert_eq!(started.status(), 202);
        let revision = json(&started);
        assert_eq!(revision["kind"], "revise");
        assert_eq!(revision["revision"], 1);
        assert_eq!(revision["parentTaskId"], first.as_str());
        assert_eq!(revision["prNumber"], 1);
        assert_eq!(revision["handOff"], "enqueued");
        assert_eq!(revision["triggers"][0]["kind"], "request");
        assert_eq!(host.state().pulls.len(), 1, "no second pull request");
        assert!(
            store
                .sent_task_ids()
                .contains(&revision["taskId"].as_str().unwrap().to_owned())
        );
    }

    #[tokio::test]
    async fn waiting_change_requests_stop_at_the_limit_and_nothing_is_lost() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let first = story_with_pull_request(&store, &host).await;
        let operation = RequestChanges::new(
            store.clone(),
            store.clone(),
            store.clone(),
            host.clone(),
            local_gate(),
        );
        for n in 0..crate::handlers::follow_ups::MAX_TRIGGERS_PER_TASK {
            let body = format!(r#"{{"feedback":"change {n}"}}"#);
            assert_eq!(
                respond(&operation, change_request(&body)).await.status(),
                202
            );
        }
        let refused = respond(&operation, change_request(r#"{"feedback":"one more"}"#)).await;
        assert_eq!(refused.status(), 409);
        assert_eq!(error_code(&refused), "TOO_MANY_WAITING_REQUESTS");
        assert_eq!(json(&refused)["error"]["details"]["taskId"], first.as_str());
        let waiting = crate::ports::CodeTaskRepository::get(&store, &first)
            .await
            .unwrap()
            .unwrap()
            .pending_triggers;
        assert_eq!(
            waiting.len(),
            crate::handlers::follow_ups::MAX_TRIGGERS_PER_TASK
        );
        assert_eq!(waiting[0].body.as_deref(), Some("change 0"));
    }

    #[tokio::test]
    async fn change_requests_need_feedback_an_open_pull_request_and_a_story() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let operation = RequestChanges::new(
            store.clone(),
            store.clone(),
            store.clone(),
            host.clone(),
            local_gate(),
        );
        assert_eq!(
            error_code(&respond(&operation, change_request(r#"{"feedback":"x"}"#)).await),
            "STORY_NOT_FOUND"
        );
        let first = story_with_pull_request(&store, &host).await;
        let blank = respond(&operation, change_request(r#"{"feedback":"  "}"#)).await;
        assert_eq!(blank.status(), 400);
        assert_eq!(
            json(&blank)["error"]["details"]["fields"][0]["code"],
            "REQUIRED"
        );
        let long = format!(r#"{{"feedback":"{}"}}"#, "x".repeat(FEEDBACK_MAX_CHARS + 1));
        assert_eq!(
            json(&respond(&operation, change_request(&long)).await)["error"]["details"]["fields"]
                [0]["code"],
            "TOO_LONG"
        );
        store.finish_task(&first, TaskStatus::Succeeded);
        host.state().closed.insert(1, PullRequestStatus::Merged);
        let merged = respond(&operation, change_request(r#"{"feedback":"x"}"#)).await;
        assert_eq!(merged.status(), 409);
        assert_eq!(error_code(&merged), "PULL_REQUEST_CLOSED");
    }

    #[tokio::test]
    async fn a_failed_task_retries_once_on_the_same_branch_and_pull_request() {
        let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
        let first = story_with_pull_request(&store, &host).await;
        let retry = RetryCodeTask::new(
            store.clone(),
            store.clone(),
            store.clone(),
            host.clone(),
            local_gate(),
        );
        let refused = respond(&retry, retry_request(&first)).await;
        assert_eq!(error_code(&refused), "TASK_NOT_RETRYABLE");

        store.finish_task(&first, TaskStatus::Failed);
        let started = respond(&retry, retry_request(&first)).await;
        assert_eq!(started.status(), 202);
        let next = json(&started);
        let original = CodeTaskRepository::get(&store, &first)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next["branch"], original.branch.as_str());
        assert_eq!(next["prNumber"], 1);
        assert_eq!(next["kind"], "generate");
        assert_eq!(next["parentTaskId"], first.as_str());
        assert_eq!(host.state().pulls.len(), 1);

        // A second click answers the same retry instead of starting another.
        let again = respond(&retry, retry_request(&first)).await;
        assert_eq!(again.status(), 200);
        assert_eq!(json(&again)["taskId"], next["taskId"]);
        let tasks = CodeTaskRepository::recent_for_story(&store, 1)
            .await
            .unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].kind, TaskKind::Generate);

        // Only the newest task of a story is retried.
        store.finish_task(next["taskId"].as_str().unwrap(), TaskStatus::Failed);
        let stale = respond(&retry, retry_request(&first)).await;
        assert_eq!(stale.status(), 200, "still answers its own retry");
        assert_eq!(
            error_code(&respond(&retry, retry_request("abc")).await),
            "CODE_TASK_NOT_FOUND"
        );
    }
}
