//! A pull request AIPM opened was closed: work still waiting on it is cancelled, and a merge
//! moves the story In Progress → Done through the workflow rules. When the rules refuse (tests not
//! passing, children not done) the story keeps its status, records the merge, and the pull
//! request gets a comment naming what blocks Done.

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

use super::payload::MARKER;
use crate::error::Result;
use crate::handlers::follow_ups::pull_request_task;
use crate::handlers::traceability::DoneEvidence;
use crate::http::json_response;
use crate::model::{MergeRecord, Story, StoryStatus};
use crate::ports::{
    AcceptanceTestRepository, CancelOutcome, CodeHost, CodeTaskRepository, EventPublisher,
    ProjectDirectory, StoryChanges, StoryRepository, UpdateGuard, UpdateOutcome,
};
use crate::rules::invest::analyze;
use crate::rules::workflow::{TransitionContext, TransitionRefusal, check_transition};
use crate::traceability::matrix::StoryTarget;

pub struct Closed {
    /// The story the pull request's branch names.
    pub story_id: u64,
    /// The project the delivery's route is for, if it came by `/projects/{key}/…`.
    pub route_project: Option<String>,
    /// The repository the delivery came from.
    pub repository: super::payload::Repository,
    pub pr_number: u64,
    pub merged: bool,
    pub merged_at: Option<DateTime<Utc>>,
    pub commit_sha: Option<String>,
    pub merged_by: Option<String>,
}

/// How the merge's move to Done is judged beyond the manual statuses: by the project's CI
/// evidence at the merged commit where its Done needs it.
pub struct DoneJudge<'a, D, G> {
    pub done: &'a D,
    pub projects: &'a G,
}

#[allow(clippy::too_many_arguments)]
pub async fn pull_request_closed<S, T, K, H, E, D, G>(
    stories: &S,
    tests: &T,
    tasks: &K,
    host: &H,
    events: &E,
    rules: &super::TriggerRules,
    judge: DoneJudge<'_, D, G>,
    closed: Closed,
) -> Result<Response<Body>>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    H: CodeHost,
    E: EventPublisher,
    D: DoneEvidence,
    G: ProjectDirectory,
{
    let story_id = closed.story_id;
    let Some(task) = pull_request_task(tasks, story_id, Some(closed.pr_number)).await? else {
        return Ok(super::ignored("not a pull request AIPM opened"));
    };
    let route_project = closed.route_project.as_deref();
    if let Some(reason) = super::outside_delivery(&task, &closed.repository, route_project, rules) {
        return Ok(super::ignored(reason));
    }
    let Some(story) = stories.get(story_id).await? else {
        return Ok(super::ignored("the story was deleted"));
    };
    let cancelled = cancel_work_on(tasks, events, &story, closed.pr_number).await?;
    if !closed.merged {
        crate::telemetry::count_webhook_event("closed");
        return Ok(json_response(
            StatusCode::OK,
            &json!({"result": "closed", "cancelledTaskId": cancelled}),
        ));
    }
    let merge = MergeRecord {
        pr_number: closed.pr_number,
        merged_at: closed.merged_at.unwrap_or_else(Utc::now),
        commit_sha: closed.commit_sha.clone(),
        merged_by: closed.merged_by.clone(),
    };
    let project_id = task
        .project_id
        .clone()
        .unwrap_or_else(|| crate::project::DEFAULT_PROJECT_ID.to_owned());
    let project = judge
        .projects
        .projects(&[project_id])
        .await?
        .into_iter()
        .next();
    let (story, refusal) = record_merge(
        stories,
        tests,
        story_id,
        &merge,
        project.as_ref().map(|project| (project, judge.done)),
    )
    .await?;
    crate::telemetry::count_webhook_event("merged");
    let detail = json!({
        "storyId": story_id,
        "taskId": task.task_id,
        "prNumber": closed.pr_number,
        "prUrl": task.pr_url,
        "mergeCommitSha": closed.commit_sha,
        "mergedBy": closed.merged_by,
    });
    match &refusal {
        None => {
            events.publish("aipm.story.done", detail).await;
        }
        Some(refusal) => {
            let comment = blocked_comment(story_id, story.status, refusal);
            let host = host.scoped(task.repository.as_ref());
            if let Err(error) = host.comment(closed.pr_number, &comment).await {
                tracing::warn!(%error, "could not say on the pull request why the story is not Done");
            }
            let mut detail = detail;
            detail["reasons"] = json!(refusal.reasons);
            events.publish("aipm.story.merged_blocked", detail).await;
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "result": if refusal.is_none() { "done" } else { "merged-not-done" },
            "storyId": story_id,
            "status": story.status,
            "reasons": refusal.map(|refusal| refusal.reasons).unwrap_or_default(),
            "cancelledTaskId": cancelled,
        }),
    ))
}

/// Cancels the story's active task if it works on this pull request, with the triggers that
/// waited on it: nothing more is pushed to a closed pull request.
async fn cancel_work_on<K: CodeTaskRepository, E: EventPublisher>(
    tasks: &K,
    events: &E,
    story: &Story,
    pr_number: u64,
) -> Result<Option<String>> {
    let Some(active_id) = &story.active_task_id else {
        return Ok(None);
    };
    let Some(active) = tasks.get(active_id).await? else {
        return Ok(None);
    };
    if active.pr_number != Some(pr_number) {
        return Ok(None);
    }
    tasks.drop_pending_triggers(active_id).await?;
    match tasks.request_cancel(active_id, Utc::now()).await? {
        CancelOutcome::Cancelled(task) => {
            // A running task is announced by its worker when it stops; this one ends here.
            events
                .publish(
                    "aipm.task.finished",
                    json!({
                        "storyId": task.story_id, "taskId": task.task_id, "kind": task.kind,
                        "revision": task.revision, "prNumber": task.pr_number,
                        "prUrl": task.pr_url, "outcome": task.status.as_str(),
                    }),
                )
                .await;
            tracing::info!(task_id = %active_id, pr_number, "cancelled: its pull request closed");
            Ok(Some(active_id.clone()))
        }
        CancelOutcome::Requested(_) => {
            tracing::info!(task_id = %active_id, pr_number, "cancelled: its pull request closed");
            Ok(Some(active_id.clone()))
        }
        CancelOutcome::AlreadyFinished(_) | CancelOutcome::NotFound => Ok(None),
    }
}

/// Records the merge on the story and moves it to Done if the workflow allows; retried when the
/// story changes under it.
async fn record_merge<S, T, D>(
    stories: &S,
    tests: &T,
    story_id: u64,
    merge: &MergeRecord,
    done: Option<(&crate::project::Project, &D)>,
) -> Result<(Story, Option<TransitionRefusal>)>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    D: DoneEvidence,
{
    for _ in 0..3 {
        let Some(story) = stories.get(story_id).await? else {
            return Err(crate::error::Error::StoryNotFound { id: story_id });
        };
        let (acceptance_tests, children) =
            tokio::join!(tests.list(story_id), stories.children(story_id));
        let (acceptance_tests, children) = (acceptance_tests?, children?);
        let merged_at = merge.commit_sha.as_ref().map(|commit| StoryTarget {
            commit: commit.to_ascii_lowercase(),
            merged: true,
            pr_number: Some(merge.pr_number),
            pr_url: None,
        });
        let ci_evidence = match done {
            Some((project, done)) if story.status != StoryStatus::Done => {
                done.judge(project, &story, &acceptance_tests, merged_at)
                    .await?
            }
            _ => None,
        };
        let refusal = if story.status == StoryStatus::Done {
            None
        } else {
            check_transition(
                story.status,
                StoryStatus::Done,
                &TransitionContext {
                    invest: &analyze(&story, &acceptance_tests),
                    accept_warnings: story.accept_warnings,
                    tests: &acceptance_tests,
                    children: &children,
                    blocked_from: story.blocked_from,
                    ci_evidence: ci_evidence.as_deref(),
                    // A merge records what was built; blockers are enforced where work starts
                    // (generate-code) and where a person moves the story.
                    open_blockers: &[],
                },
            )
            .err()
            .map(|refusal| *refusal)
        };
        let changes = StoryChanges {
            merge: Some(merge.clone()),
            status: refusal.is_none().then_some(StoryStatus::Done),
            updated_by: Some(match &merge.merged_by {
                Some(login) => format!("github:{login}"),
                None => "github".into(),
            }),
            note: crate::history::ChangeNote {
                author: Some(match &merge.merged_by {
                    Some(login) => {
                        crate::history::Author::new(format!("github:{login}"), Some(login))
                    }
                    None => crate::history::Author::github(),
                }),
                reason: None,
            },
            ..StoryChanges::default()
        };
        let guard = UpdateGuard {
            version: Some(story.version),
            status: Some(story.status),
        };
        match stories
            .update(story_id, &changes, &guard, Utc::now())
            .await?
        {
            UpdateOutcome::Updated(story) => return Ok((*story, refusal)),
            UpdateOutcome::Conflict => continue,
            UpdateOutcome::NotFound => {
                return Err(crate::error::Error::StoryNotFound { id: story_id });
            }
        }
    }
    Err(crate::error::Error::ConcurrentUpdate)
}

fn blocked_comment(story_id: u64, status: StoryStatus, refusal: &TransitionRefusal) -> String {
    let mut comment = format!(
        "{MARKER}merge-blocked -->\nMerged, but story {story_id} stays **{}**: the workflow does not allow Done yet.\n",
        status.as_str()
    );
    for reason in &refusal.reasons {
        let line = match *reason {
            "TESTS_NOT_PASSING" => "- Acceptance tests not passing:".to_owned(),
            "CI_EVIDENCE_NOT_PASSING" => {
                "- Acceptance tests CI has not passed at the merged commit:".to_owned()
            }
            "CHILDREN_NOT_DONE" => "- Child stories not Done:".to_owned(),
            "TRANSITION_NOT_ALLOWED" => {
                format!("- A story that is {} cannot move to Done.", status.as_str())
            }
            other => format!("- {other}"),
        };
        comment.push_str(&line);
        comment.push('\n');
        if *reason == "TESTS_NOT_PASSING" {
            for test in refusal
                .blocking_tests
                .iter()
                .filter(|t| t.evidence.is_none())
            {
                comment.push_str(&format!("  - {} ({:?})\n", test.title, test.status));
            }
        }
        if *reason == "CI_EVIDENCE_NOT_PASSING" {
            for test in &refusal.blocking_tests {
                if let Some(evidence) = test.evidence {
                    comment.push_str(&format!(
                        "  - {} {} ({})\n",
                        test.key.as_deref().unwrap_or("(no key)"),
                        test.title,
                        evidence.label()
                    ));
                }
            }
        }
        if *reason == "CHILDREN_NOT_DONE" {
            for child in &refusal.blocking_children {
                comment.push_str(&format!(
                    "  - story {}: {} ({})\n",
                    child.id,
                    child.title,
                    child.status.as_str()
                ));
            }
        }
    }
    comment.push_str("\nWhen they pass, move the story to Done in AIPM.\n");
    comment
}
