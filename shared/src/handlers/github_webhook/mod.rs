//! POST /webhooks/github: GitHub tells AIPM about reviews, comments and merges of the pull
//! requests it opened. A review that requests changes (or calls `@aipm`) by someone who may write
//! to the repository becomes a revision task on the same branch and pull request; a merge moves
//! the story to Done through the workflow rules; a completed CI run on its branch is kept as the
//! story's latest run.
//!
//! The HMAC signature is the authentication (the route has no JWT authorizer). Each delivery and
//! each review is acted on once (once-keys stored with the task in one transaction), and the
//! answer comes within a few round trips, far inside GitHub's 10 s.

pub mod installation;
mod merge;
pub mod payload;
pub mod signature;
mod workflow_run;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use tokio::sync::OnceCell;

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::follow_ups::{self, Started};
use crate::handlers::traceability::DoneEvidence;
use crate::http::{Operation, header, json_response};
use crate::model::{StoryStatus, Trigger};
use crate::ports::{
    AcceptanceTestRepository, CodeHost, CodeTaskRepository, EventPublisher, ProjectDirectory,
    ReviewerDirectory, SecretSource, StoryRepository, TaskQueue,
};
pub use payload::TriggerRules;
use payload::{
    BranchStory, Decision, Envelope, MARKER, decide, delivery_repository, story_of_branch, works_in,
};
use signature::signature_matches;

/// Revisions one pull request gets at most: past this, a review loop (or a reviewer and an agent
/// that never agree) stops costing agent runs, and a person takes over.
pub const MAX_REVISIONS_PER_PULL_REQUEST: u32 = 20;

/// How long a reviewer's permission is trusted before GitHub is asked again.
const PERMISSION_TTL: Duration = Duration::from_secs(300);

pub struct GitHubWebhook<S, T, K, Q, H, W, E, G, D = crate::handlers::traceability::WithoutCiGate> {
    stories: S,
    tests: T,
    tasks: K,
    queue: Q,
    host: H,
    secret: W,
    events: E,
    rules: TriggerRules,
    /// Resolves `aipm/KEY-n-…` branches and asks the policy for the people tasks act for.
    gate: Gate<G>,
    permissions: Mutex<HashMap<String, (String, Instant)>>,
    own_login: OnceCell<String>,
    /// What a merge's move to Done is judged by besides the manual statuses.
    done: D,
}

/// Where a delivery came from: the repository it names and, when it came by
/// `/projects/{key}/webhooks/github`, the project that route is for.
#[derive(Debug, Clone, Copy)]
struct Delivery<'a> {
    repository: &'a payload::Repository,
    project_id: Option<&'a str>,
}

/// Why a delivery from `repository` (by the route of `route_project`, if any) may not act on
/// `task`: another repository than the task's, or another project than the route's.
pub(crate) fn outside_delivery(
    task: &crate::model::CodeTask,
    repository: &payload::Repository,
    route_project: Option<&str>,
    rules: &TriggerRules,
) -> Option<&'static str> {
    if !works_in(task, repository, rules) {
        Some("another repository")
    } else if route_project.is_some_and(|project_id| task.project() != project_id) {
        Some("a pull request of another project")
    } else {
        None
    }
}

/// The answer for an event AIPM does not act on: 204, so GitHub shows the delivery as fine.
fn ignored(reason: &'static str) -> Response<Body> {
    tracing::info!(reason, "webhook event ignored");
    crate::telemetry::count_webhook_event("ignored");
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

impl<S, T, K, Q, H, W, E, G> GitHubWebhook<S, T, K, Q, H, W, E, G> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        stories: S,
        tests: T,
        tasks: K,
        queue: Q,
        host: H,
        secret: W,
        events: E,
        rules: TriggerRules,
        gate: Gate<G>,
    ) -> Self {
        Self {
            stories,
            tests,
            tasks,
            queue,
            host,
            secret,
            events,
            rules,
            gate,
            permissions: Mutex::new(HashMap::new()),
            own_login: OnceCell::new(),
            done: crate::handlers::traceability::WithoutCiGate,
        }
    }

    /// The same, judging a merge's Done by CI evidence where a project asks for it.
    pub fn judging_done_by<D>(self, done: D) -> GitHubWebhook<S, T, K, Q, H, W, E, G, D> {
        GitHubWebhook {
            stories: self.stories,
            tests: self.tests,
            tasks: self.tasks,
            queue: self.queue,
            host: self.host,
            secret: self.secret,
            events: self.events,
            rules: self.rules,
            gate: self.gate,
            permissions: self.permissions,
            own_login: self.own_login,
            done,
        }
    }
}

impl<S, T, K, Q, H, W, E, G, D> GitHubWebhook<S, T, K, Q, H, W, E, G, D>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost + ReviewerDirectory,
    W: SecretSource,
    E: EventPublisher,
    G: ProjectDirectory,
    D: DoneEvidence,
{
    /// Checks the signature with the cached secret, and once more with a fresh copy (the
    /// secret may have been rotated since it was read).
    async fn verify(&self, body: &[u8], signature: &str) -> Result<()> {
        for refresh in [false, true] {
            let secret = self.secret.secret(refresh).await?;
            if signature_matches(secret.as_bytes(), body, signature) {
                return Ok(());
            }
        }
        Err(Error::WebhookSignatureInvalid)
    }

    /// The story a branch of AIPM's names: by id (branches of before projects) or by `KEY-n`.
    async fn story_of(&self, branch: &str) -> Result<Option<u64>> {
        match story_of_branch(branch) {
            None => Ok(None),
            Some(BranchStory::Id(id)) => Ok(Some(id)),
            Some(BranchStory::Key { key, number }) => self.gate.story_id_in(&key, number).await,
        }
    }

    /// A revision runs the agent for the person who asked for the code: the policy decides,
    /// with their role as it is now. Tasks from before roles name nobody and are let through.
    async fn requester_may_revise(
        &self,
        task: &crate::model::CodeTask,
        pr_number: u64,
    ) -> Result<bool> {
        let Some(requester) = &task.requested_by else {
            return Ok(true);
        };
        let project_id = task.project();
        let target = format!("webhook: pull request #{pr_number}");
        match self
            .gate
            .act_for(
                requester,
                task.requested_as_deployment_admin,
                project_id,
                Action::RequestChanges,
                true,
                &target,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::PermissionDenied { .. } | Error::ProjectNotFound { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The host acting on the repository a delivery came from.
    fn host_for(&self, repository: &str) -> H {
        self.host.scoped(delivery_repository(repository).as_ref())
    }

    /// Whether `login` may write to `repository`, as GitHub says (cached for a while).
    async fn may_write(&self, repository: &str, login: &str) -> Result<bool> {
        let cache_key = format!("{}:{login}", repository.to_lowercase());
        let cached = self
            .permissions
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(&cache_key)
            .filter(|(_, read_at)| read_at.elapsed() < PERMISSION_TTL)
            .map(|(permission, _)| permission.clone());
        let permission = match cached {
            Some(permission) => permission,
            None => {
                let permission = self.host_for(repository).permission(login).await?;
                self.permissions
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner())
                    .insert(cache_key, (permission.clone(), Instant::now()));
                permission
            }
        };
        Ok(matches!(
            permission.as_str(),
            "admin" | "maintain" | "write"
        ))
    }

    async fn is_own_account(&self, login: &str) -> Result<bool> {
        let own = self
            .own_login
            .get_or_try_init(|| self.host.own_login())
            .await?;
        Ok(own.eq_ignore_ascii_case(login))
    }

    /// A completed CI run on a pull request AIPM opened, from the repository its task works
    /// in, kept as the story's latest run.
    async fn workflow_run(
        &self,
        body: &[u8],
        route_project: Option<&str>,
    ) -> Result<Response<Body>> {
        let event = workflow_run::WorkflowRunEvent::parse(body)?;
        if event.action != "completed" {
            return Ok(ignored("a workflow run that has not completed"));
        }
        let branch = event
            .workflow_run
            .head_branch
            .as_deref()
            .unwrap_or_default();
        let Some(story_id) = self.story_of(branch).await? else {
            return Ok(ignored("not a branch AIPM opened"));
        };
        let pr_number = event.workflow_run.pull_requests.first().map(|pr| pr.number);
        let Some(task) = follow_ups::pull_request_task(&self.tasks, story_id, pr_number).await?
        else {
            return Ok(ignored("not a pull request AIPM opened"));
        };
        if task.branch != branch {
            return Ok(ignored("not a pull request AIPM opened"));
        }
        if let Some(reason) = outside_delivery(&task, &event.repository, route_project, &self.rules)
        {
            return Ok(ignored(reason));
        }
        let Some(run) = event.completed_run(story_id) else {
            return Ok(ignored("a workflow run without a commit or link"));
        };
        self.done.record_run(task.project(), &run).await?;
        tracing::info!(story = story_id, run = run.run_id, conclusion = %run.conclusion, "CI run recorded");
        crate::telemetry::count_webhook_event("ci-run");
        Ok(json_response(
            StatusCode::OK,
            &json!({"result": "ci-run-recorded", "storyId": story_id, "runId": run.run_id}),
        ))
    }

    async fn revise(
        &self,
        delivery: Delivery<'_>,
        pr_number: u64,
        branch: String,
        trigger: Trigger,
        once_key: String,
    ) -> Result<Response<Body>> {
        let repository = delivery.repository.full_name.as_str();
        let host = self.host_for(repository);
        // A conversation comment does not name the branch; the pull request does.
        let branch = if branch.is_empty() {
            let state = host.pull_request_state(pr_number).await?;
            if state.status != crate::ports::PullRequestStatus::Open {
                return Ok(ignored("the pull request is not open"));
            }
            state.head_ref
        } else {
            branch
        };
        let Some(story_id) = self.story_of(&branch).await? else {
            return Ok(ignored("not a pull request AIPM opened"));
        };
        let Some(previous) =
            follow_ups::pull_request_task(&self.tasks, story_id, Some(pr_number)).await?
        else {
            return Ok(ignored("not a pull request AIPM opened"));
        };
        if previous.branch != branch {
            return Ok(ignored("not a pull request AIPM opened"));
        }
        if let Some(reason) = outside_delivery(
            &previous,
            delivery.repository,
            delivery.project_id,
            &self.rules,
        ) {
            return Ok(ignored(reason));
        }
        if self.is_own_account(&trigger.sender).await? {
            return Ok(ignored("AIPM's own account"));
        }
        if !self.may_write(repository, &trigger.sender).await? {
            return Ok(ignored("the sender cannot write to the repository"));
        }
        if !self.requester_may_revise(&previous, pr_number).await? {
            return Ok(ignored(
                "the person who asked for this code may no longer revise it",
            ));
        }
        if previous.revision >= MAX_REVISIONS_PER_PULL_REQUEST {
            // Every request past the limit is answered, so nobody waits for a run that never comes.
            let notice = format!(
                "{MARKER}revision-cap -->\nAIPM has made {MAX_REVISIONS_PER_PULL_REQUEST} revisions of this pull request, its limit; it takes no more review requests here. Continue by hand, or open a new pull request from AIPM."
            );
            if let Err(error) = host.comment(pr_number, &notice).await {
                tracing::warn!(%error, "could not say that the revision limit is reached");
            }
            return Ok(ignored("the pull request reached its revision limit"));
        }
        let Some(story) =
            self.stories.get(story_id).await?.filter(|story| {
                matches!(story.status, StoryStatus::Ready | StoryStatus::InProgress)
            })
        else {
            return Ok(ignored("the story is not being built"));
        };
        let delivery = trigger.delivery_id.clone().unwrap_or_default();
        let once_keys = vec![format!("delivery:{delivery}"), once_key];
        let started = follow_ups::start(
            &self.stories,
            &self.tasks,
            &self.queue,
            &previous,
            Some(story),
            vec![trigger],
            once_keys,
        )
        .await?;
        crate::telemetry::count_webhook_event("revision");
        Ok(match started {
            Started::Task(task) => json_response(
                StatusCode::ACCEPTED,
                &json!({"result": "revision", "taskId": task.task_id, "revision": task.revision}),
            ),
            Started::Waiting(task)
                if task.status == crate::model::TaskStatus::Queued
                    && task.kind == crate::model::TaskKind::Revise =>
            {
                json_response(
                    StatusCode::ACCEPTED,
                    &json!({"result": "joined-revision", "taskId": task.task_id, "revision": task.revision}),
                )
            }
            Started::Waiting(task) => json_response(
                StatusCode::ACCEPTED,
                &json!({"result": "next-revision", "activeTaskId": task.task_id}),
            ),
            Started::Duplicate => json_response(StatusCode::OK, &json!({"result": "duplicate"})),
        })
    }
}

impl<S, T, K, Q, H, W, E, G, D> Operation for GitHubWebhook<S, T, K, Q, H, W, E, G, D>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost + ReviewerDirectory,
    W: SecretSource,
    E: EventPublisher,
    G: ProjectDirectory,
    D: DoneEvidence,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let event = header(&request, "x-github-event")
            .ok_or(Error::WebhookHeaderMissing {
                header: "X-GitHub-Event",
            })?
            .to_owned();
        let delivery = header(&request, "x-github-delivery")
            .ok_or(Error::WebhookHeaderMissing {
                header: "X-GitHub-Delivery",
            })?
            .to_owned();
        let signature = header(&request, "x-hub-signature-256")
            .ok_or(Error::WebhookSignatureInvalid)?
            .to_owned();
        let body = request.body().as_ref();
        self.verify(body, &signature).await?;
        tracing::info!(%event, %delivery, "webhook delivery");
        if event == "ping" {
            return Ok(json_response(StatusCode::OK, &json!({"result": "pong"})));
        }
        // Deliveries to `/projects/{key}/webhooks/github` act only on that project's tasks.
        let route_project =
            match ProjectRef::of(&request) {
                ProjectRef::Default => None,
                ProjectRef::Key(key) => {
                    Some(self.gate.project_id(key).await?.ok_or_else(|| {
                        Error::ProjectNotFound {
                            reference: key.to_owned(),
                        }
                    })?)
                }
            };
        // The GitHub App's events about repositories keep the projects' links current.
        if let Some(answer) =
            installation::answer(self.gate.projects(), &event, body, route_project.as_deref())
                .await?
        {
            return Ok(answer);
        }
        if event == "workflow_run" {
            return self.workflow_run(body, route_project.as_deref()).await;
        }
        let envelope: Envelope =
            serde_json::from_slice(body).map_err(|error| Error::InvalidJson(error.to_string()))?;
        match decide(&event, &envelope, &self.rules, &delivery) {
            Decision::Ignore(reason) => Ok(ignored(reason)),
            Decision::Revise {
                pr_number,
                branch,
                trigger,
                once_key,
            } => {
                let delivery = Delivery {
                    repository: &envelope.repository,
                    project_id: route_project.as_deref(),
                };
                self.revise(delivery, pr_number, branch, trigger, once_key)
                    .await
            }
            Decision::Closed {
                pr_number,
                branch,
                merged,
                merged_at,
                commit_sha,
                merged_by,
            } => {
                let Some(story_id) = self.story_of(&branch).await? else {
                    return Ok(ignored("not a pull request AIPM opened"));
                };
                let closed = merge::Closed {
                    story_id,
                    route_project,
                    repository: envelope.repository.clone(),
                    pr_number,
                    merged,
                    merged_at,
                    commit_sha,
                    merged_by,
                };
                merge::pull_request_closed(
                    &self.stories,
                    &self.tests,
                    &self.tasks,
                    &self.host,
                    &self.events,
                    &self.rules,
                    merge::DoneJudge {
                        done: &self.done,
                        projects: self.gate.projects(),
                    },
                    closed,
                )
                .await
            }
        }
    }
}

#[cfg(test)]
mod tests;
