//! GET /code-tasks/{taskId} and POST /code-tasks/{taskId}/cancel.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::views::TaskView;
use crate::http::{Operation, path_parameter};
use crate::ports::{CancelOutcome, CodeTaskRepository, ProjectDirectory};
use crate::validation::parse_task_id;

/// The task a request names (`{taskId}`), once the caller may see the project and may take
/// `action` on that task (their own, or any for maintainers): one check for cancel and retry.
pub(crate) async fn task_acted_on<K: CodeTaskRepository, G: ProjectDirectory>(
    gate: &Gate<G>,
    tasks: &K,
    request: &Request,
    action: Action,
) -> Result<(crate::authz::gate::Access, crate::model::CodeTask)> {
    let access = gate.enter(request, ProjectRef::of(request)).await?;
    let task_id = parse_task_id(&path_parameter(request, "taskId").unwrap_or_default())?;
    let task = tasks
        .get(&task_id)
        .await?
        .filter(|task| access.holds_task(task))
        .ok_or(Error::TaskNotFound { task_id })?;
    gate.require_on_task(&access, action, &task, request.uri().path())
        .await?;
    Ok((access, task))
}

pub struct GetCodeTask<K, G> {
    tasks: K,
    gate: Gate<G>,
}

impl<K: CodeTaskRepository, G: ProjectDirectory> GetCodeTask<K, G> {
    pub fn new(tasks: K, gate: Gate<G>) -> Self {
        Self { tasks, gate }
    }
}

impl<K: CodeTaskRepository, G: ProjectDirectory> Operation for GetCodeTask<K, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::ViewProject)
            .await?;
        let task_id = parse_task_id(&path_parameter(&request, "taskId").unwrap_or_default())?;
        let task = self
            .tasks
            .get(&task_id)
            .await?
            .filter(|task| access.holds_task(task))
            .ok_or(Error::TaskNotFound { task_id })?;
        Ok(TaskView(&task).respond(StatusCode::OK))
    }
}

pub struct CancelCodeTask<K, G> {
    tasks: K,
    gate: Gate<G>,
}

impl<K: CodeTaskRepository, G: ProjectDirectory> CancelCodeTask<K, G> {
    pub fn new(tasks: K, gate: Gate<G>) -> Self {
        Self { tasks, gate }
    }
}

impl<K: CodeTaskRepository, G: ProjectDirectory> Operation for CancelCodeTask<K, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let (_, task) =
            task_acted_on(&self.gate, &self.tasks, &request, Action::CancelTask).await?;
        let task_id = task.task_id;
        match self.tasks.request_cancel(&task_id, Utc::now()).await? {
            CancelOutcome::Cancelled(task) => {
                // A queued task ends here; a running one ends when its worker stops the agent.
                crate::telemetry::count_task_finished(task.status, None);
                Ok(TaskView(&task).respond(StatusCode::OK))
            }
            // Running: the worker stops the agent at its next heartbeat.
            CancelOutcome::Requested(task) => Ok(TaskView(&task).respond(StatusCode::ACCEPTED)),
            CancelOutcome::AlreadyFinished(task) => Err(Error::TaskAlreadyFinished {
                task_id,
                status: task.status.as_str(),
            }),
            CancelOutcome::NotFound => Err(Error::TaskNotFound { task_id }),
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

    use crate::ports::StoryRepository;
    use lambda_http::http::Method;

    async fn queued_task(store: &MemoryStore) -> String {
        let story = seed_ready_story(store, "Export", "a file is downloaded").await;
        let task = generate_code(store, &MemoryCodeHost::new(), story.id).await;
        task["taskId"].as_str().unwrap().to_owned()
    }

    fn task_request(method: Method, task_id: &str) -> Request {
        with_path(request(method, "/code-tasks/x", ""), "taskId", task_id)
    }

    #[tokio::test]
    async fn a_task_is_readable_and_a_queued_one_cancels_at_once() {
        let store = MemoryStore::new();
        let task_id = queued_task(&store).await;
        let got = respond(
            &GetCodeTask::new(store.clone(), local_gate()),
            task_request(Method::GET, &task_id),
        )
        .await;
        assert_eq!(got.status(), 200);
        assert_eq!(json(&got)["status"], "queued");
        // The record's bookkeeping stays between generate-code, the worker and the table.
        let stored = CodeTaskRepository::get(&store, &task_id)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.request_fingerprint.is_some(), "{stored:?}");
        for internal in ["handOffUntil", "requestFingerprint", "cancelRequested"] {
            assert!(
                json(&got).get(internal).is_none(),
                "{internal} in {}",
                json(&got)
            );
        }
        assert_eq!(json(&got)["handOff"], "enqueued");

        let cancel = CancelCodeTask::new(store.clone(), local_gate());
        let cancelled = respond(&cancel, task_request(Method::POST, &task_id)).await;
        assert_eq!(cancelled.status(), 200);
        assert_eq!(json(&cancelled)["status"], "cancelled");
        let story = StoryRepository::get(&store, 1).await.unwrap().unwrap();
        assert_eq!(
            story.active_task_id, None,
            "the story is free for a new task"
        );
        let again = respond(&cancel, task_request(Method::POST, &task_id)).await;
        assert_eq!(again.status(), 409);
        assert_eq!(error_code(&again), "TASK_ALREADY_FINISHED");
    }

    #[tokio::test]
    async fn unknown_and_malformed_ids() {
        let store = MemoryStore::new();
        let missing = respond(
            &GetCodeTask::new(store.clone(), local_gate()),
            task_request(Method::GET, "abc123"),
        )
        .await;
        assert_eq!(error_code(&missing), "CODE_TASK_NOT_FOUND");
        let bad = respond(
            &CancelCodeTask::new(store.clone(), local_gate()),
            task_request(Method::POST, "../x"),
        )
        .await;
        assert_eq!(error_code(&bad), "INVALID_TASK_ID");
    }
}
