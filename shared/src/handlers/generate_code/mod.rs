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

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::follow_ups::pull_request_task;
use crate::handlers::links::read_links;
use crate::handlers::views::TaskView;
use crate::http::{Operation, parse_json_body};
use crate::model::{BlockerOverride, CodeTask, HandOffStage, Story, StoryStatus, TaskStatus};
use crate::ports::{
    AcceptanceTestRepository, CodeHost, CodeTaskRepository, CreateTaskOutcome, LinkStore, NoLinks,
    ProjectDirectory, PullRequestStatus, StoryRepository, TaskQueue,
};
use crate::project::{DEFAULT_PROJECT_ID, Project, RepositoryLink};
use crate::rules::brief::{
    BRIEF_PATH, branch_name, pull_request_body, request_fingerprint, task_brief, task_id_for_key,
};

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
    /// `owner/name` of one of the project's repositories; its default target when absent.
    repository: Option<String>,
    /// Go ahead although the story waits for stories that are not Done; the reason is kept.
    override_blockers: Option<OverrideBlockers>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBlockers {
    reason: String,
}

/// Longest override reason kept on a task.
const OVERRIDE_REASON_MAX_CHARS: usize = 500;

pub struct GenerateCode<S, T, K, Q, H, G, L = NoLinks> {
    stories: S,
    tests: T,
    tasks: K,
    queue: Q,
    host: H,
    gate: Gate<G>,
    /// Where the story's blockers are found: a blocked story needs an override.
    links: L,
}

impl<S, T, K, Q, H, G> GenerateCode<S, T, K, Q, H, G> {
    /// The same, refusing a story that waits for open blockers unless overridden.
    pub fn with_links<L: LinkStore>(self, links: L) -> GenerateCode<S, T, K, Q, H, G, L> {
        GenerateCode {
            stories: self.stories,
            tests: self.tests,
            tasks: self.tasks,
            queue: self.queue,
            host: self.host,
            gate: self.gate,
            links,
        }
    }
}

impl<S, T, K, Q, H, G> GenerateCode<S, T, K, Q, H, G>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost,
    G: ProjectDirectory,
{
    pub fn new(stories: S, tests: T, tasks: K, queue: Q, host: H, gate: Gate<G>) -> Self {
        Self {
            stories,
            tests,
            tasks,
            queue,
            host,
            gate,
            links: NoLinks,
        }
    }
}

impl<S, T, K, Q, H, G, L> GenerateCode<S, T, K, Q, H, G, L>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost,
    G: ProjectDirectory,
    L: LinkStore,
{
    /// A story waiting for open blockers is refused, naming them, unless the request overrides
    /// with a reason; the override is what the task then records.
    async fn check_blockers(
        &self,
        project: &Project,
        story_id: u64,
        override_reason: Option<&str>,
    ) -> Result<Option<BlockerOverride>> {
        let (_, links) = read_links(&self.stories, &self.links, project, story_id).await?;
        let blockers = links.open_blockers();
        if blockers.is_empty() {
            return Ok(None);
        }
        match override_reason {
            Some(reason) => Ok(Some(BlockerOverride {
                reason: reason.to_owned(),
                blockers: blockers.into_iter().map(|blocker| blocker.key).collect(),
            })),
            None => Err(Error::StoryBlocked { blockers }),
        }
    }

    /// Branch, brief, draft pull request, queue: each skipped if already done, each in the
    /// repository the task records. `label` is how people know the story: `KEY-n`.
    async fn hand_off(&self, story: &Story, label: &str, mut task: CodeTask) -> Result<CodeTask> {
        if task.hand_off < HandOffStage::PullRequestOpened {
            let host = self.host.scoped(task.repository.as_ref());
            let tests = self.tests.list(story.id).await?;
            host.ensure_branch(&task.branch).await?;
            let brief = task_brief(story, &tests, task.instructions.as_deref());
            host.ensure_file(
                &task.branch,
                BRIEF_PATH,
                &brief,
                &format!("Add the brief for {label}"),
            )
            .await?;
            let pull = host
                .ensure_draft_pull_request(
                    &task.branch,
                    &format!("{label}: {}", story.title),
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
    async fn hand_off_or_release(
        &self,
        story: &Story,
        label: &str,
        task: CodeTask,
    ) -> Result<CodeTask> {
        let task_id = task.task_id.clone();
        match self.hand_off(story, label, task).await {
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
        label: &str,
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
            let task = self.hand_off_or_release(story, label, task).await?;
            return Ok(TaskView(&task).respond(StatusCode::ACCEPTED));
        }
        if same_key || (task.status.is_active() && task.hand_off < HandOffStage::Enqueued) {
            return Ok(TaskView(&task).respond(StatusCode::OK));
        }
        Err(Error::ActiveTaskExists {
            task_id: task.task_id,
        })
    }

    /// Work on a story whose pull request is open belongs on that pull request (a revision),
    /// not on a second one.
    async fn refuse_while_pull_request_open(&self, story_id: u64) -> Result<()> {
        let Some(previous) = pull_request_task(&self.tasks, story_id, None).await? else {
            return Ok(());
        };
        let pr_number = previous.pr_number.unwrap_or_default();
        let host = self.host.scoped(previous.repository.as_ref());
        match host.pull_request_state(pr_number).await?.status {
            PullRequestStatus::Open => Err(Error::PullRequestOpen {
                pr_number,
                pr_url: previous.pr_url,
                task_id: previous.task_id,
            }),
            PullRequestStatus::Merged | PullRequestStatus::Closed => Ok(()),
        }
    }
}

/// Where a new task of the project works: the linked repository the request names, else the
/// project's default target. The default project may link none and then works in the
/// deployment's configured repository, as before projects; any other project needs a link
/// first. A link the GitHub App lost access to is refused before anything is written or asked
/// of GitHub.
fn task_repository(project: &Project, named: Option<&str>) -> Result<Option<RepositoryLink>> {
    let link = match named.map(str::trim).filter(|name| !name.is_empty()) {
        Some(name) => Some(project.linked_repository(name).ok_or_else(|| {
            Error::Validation(vec![crate::error::FieldError::new(
                "repository",
                "NOT_LINKED",
                format!("the project does not link {name}; link it in the project's settings"),
            )])
        })?),
        None => project.repository.as_ref(),
    };
    match link {
        Some(link) if link.disconnected => Err(Error::RepositoryDisconnected {
            repository: link.full_name(),
        }),
        Some(link) => Ok(Some(link.clone())),
        None if project.id == DEFAULT_PROJECT_ID => Ok(None),
        None => Err(Error::RepositoryNotLinked {
            key: project.key.clone(),
        }),
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

fn override_reason(body: &GenerateCodeBody) -> Result<Option<String>> {
    let Some(requested) = &body.override_blockers else {
        return Ok(None);
    };
    let reason = requested.reason.trim();
    let length = reason.chars().count();
    if length == 0 || length > OVERRIDE_REASON_MAX_CHARS || reason.contains('\0') {
        return Err(Error::Validation(vec![crate::error::FieldError::new(
            "overrideBlockers.reason",
            "INVALID",
            format!("say why, in 1 to {OVERRIDE_REASON_MAX_CHARS} characters"),
        )]));
    }
    Ok(Some(reason.to_owned()))
}

impl<S, T, K, Q, H, G, L> Operation for GenerateCode<S, T, K, Q, H, G, L>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    Q: TaskQueue,
    H: CodeHost,
    G: ProjectDirectory,
    L: LinkStore,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::GenerateCode)
            .await?;
        let story_id = access.path_story(&request)?;
        let label = crate::project::story_key(&access.project.key, story_id);
        let key = idempotency_key(&request)?;
        let empty_body = request.body().as_ref().iter().all(u8::is_ascii_whitespace);
        let body: GenerateCodeBody = if empty_body {
            GenerateCodeBody::default()
        } else {
            parse_json_body(&request)?
        };
        let repository = task_repository(&access.project, body.repository.as_deref())?;
        let override_reason = override_reason(&body)?;
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
        // The linked repository's own spelling, so `Acme/App` and `acme/app` are one request.
        let named = (body.repository.as_ref())
            .and(repository.as_ref())
            .map(RepositoryLink::full_name);
        let fingerprint = request_fingerprint(story_id, instructions.as_deref(), named.as_deref());

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
                    .existing(&story, &label, task, key.as_deref(), &fingerprint)
                    .await;
            }
            if let Some(active) = &story.active_task_id {
                if let Some(task) = self.tasks.get(active).await? {
                    return self
                        .existing(&story, &label, task, key.as_deref(), &fingerprint)
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
            let blocker_override = self
                .check_blockers(&access.project, story_id, override_reason.as_deref())
                .await?;
            if !new_pull_request {
                self.refuse_while_pull_request_open(story_id).await?;
            }
            let task_id = keyed_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
            let now = Utc::now();
            let mut task = CodeTask::queued(task_id, story_id, String::new(), now);
            task.branch = branch_name(&story, &label, &task.task_id);
            task.repository = repository.clone();
            task.project_id = Some(access.project.id.clone());
            task.hand_off_until = Some(now + Duration::seconds(HAND_OFF_SECONDS));
            task.idempotency_key = key.clone();
            task.request_fingerprint = Some(fingerprint.clone());
            task.instructions = instructions.clone();
            task.requested_by = Some(access.caller.sub.clone());
            task.requested_as_deployment_admin = access.caller.deployment_admin;
            task.blocker_override = blocker_override;
            let author = crate::history::Author::of(&access.caller);
            match self.tasks.create_for_story(&task, &story, &author).await? {
                CreateTaskOutcome::Created => {
                    tracing::info!(task_id = %task.task_id, story_id, "code task recorded");
                    crate::telemetry::count_task_created();
                    let task = self.hand_off_or_release(&story, &label, task).await?;
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
mod tests;
