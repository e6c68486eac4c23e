//! A revision's own steps around the agent run: the brief (the original brief plus the reviews'
//! comments), and afterwards one reply per review thread, one summary comment on the pull
//! request, and the reviewers asked to look again.

use std::path::Path;

use aipm::handlers::github_webhook::payload::MARKER;
use aipm::model::{CodeTask, CommentReply, TaskKind, TriggerKind};
use aipm::ports::{CodeHost, PullRequestStatus};
use aipm::rules::brief::BRIEF_PATH;
use aipm::rules::revision::{
    FeedbackItem, feedback_items, read_answers, reply_text, revision_brief,
};

use crate::git;

/// Whether the task continues earlier work on its pull request (a revision, or a retry of one
/// that failed): it then answers a brief and needs the pull request still open.
pub fn follows_up(task: &CodeTask) -> bool {
    task.kind == TaskKind::Revise || task.parent_task_id.is_some()
}

/// Why a task that follows another must not run: its pull request is gone.
pub async fn pull_request_closed<H: CodeHost>(
    host: &H,
    task: &CodeTask,
) -> Result<Option<String>, String> {
    let Some(number) = task.pr_number.filter(|_| follows_up(task)) else {
        return Ok(None);
    };
    let state = host
        .pull_request_state(number)
        .await
        .map_err(|error| error.to_string())?;
    Ok(match state.status {
        PullRequestStatus::Open if state.head_ref == task.branch => None,
        PullRequestStatus::Open => Some(format!(
            "pull request #{number} no longer comes from {}",
            task.branch
        )),
        PullRequestStatus::Merged => Some(format!("pull request #{number} was merged")),
        PullRequestStatus::Closed => Some(format!("pull request #{number} was closed")),
    })
}

/// Writes TASK.md for this run: for a revision, the revision brief; for a retried first run
/// whose brief a previous run removed, the original brief again. Returns the feedback items.
pub async fn prepare_brief<H: CodeHost>(
    host: &H,
    task: &CodeTask,
    workspace: &Path,
) -> Result<Vec<FeedbackItem>, String> {
    let original = git::original_brief(workspace).await?;
    match task.kind {
        TaskKind::Generate => {
            write(workspace, &original).await?;
            Ok(Vec::new())
        }
        TaskKind::Revise => {
            let mut comments = Vec::new();
            for trigger in &task.triggers {
                if trigger.kind != TriggerKind::Review {
                    continue;
                }
                let (Some(number), Ok(review_id)) = (task.pr_number, trigger.id.parse::<u64>())
                else {
                    continue;
                };
                let read = host
                    .review_comments(number, review_id)
                    .await
                    .map_err(|error| format!("reading review {review_id}: {error}"))?;
                comments.push((review_id, read));
            }
            let items = feedback_items(&task.triggers, &comments);
            let (brief, left_out) = revision_brief(&original, task, &items);
            write(workspace, &brief).await?;
            // What the agent never saw gets no reply: the summary names it.
            Ok(items
                .into_iter()
                .map(|item| FeedbackItem {
                    comment_id: item.comment_id.filter(|_| !left_out.contains(&item.label)),
                    ..item
                })
                .collect())
        }
    }
}

async fn write(workspace: &Path, brief: &str) -> Result<(), String> {
    tokio::fs::write(workspace.join(BRIEF_PATH), brief)
        .await
        .map_err(|error| format!("cannot write {BRIEF_PATH}: {error}"))
}

/// The commit message of a revision: which reviews it answers, and the task as a trailer.
pub fn commit_message(task: &CodeTask) -> String {
    let reviews: Vec<String> = task
        .triggers
        .iter()
        .map(|trigger| match trigger.kind {
            TriggerKind::Review => format!("review {}", trigger.id),
            TriggerKind::Comment => format!("comment {}", trigger.id),
            TriggerKind::Request => "a change request".to_owned(),
            TriggerKind::Retry => "a retry".to_owned(),
        })
        .collect();
    format!(
        "Address {} (revision {})\n\nAIPM-Task: {}",
        reviews.join(", "),
        task.revision,
        task.task_id
    )
}

/// Replies on each review thread, posts the summary, asks the reviewers again. Returns what was
/// replied, for the task record.
pub async fn report<H: CodeHost>(
    host: &H,
    task: &CodeTask,
    items: &[FeedbackItem],
    result_file: &Path,
    pushed: Option<&str>,
) -> Result<Vec<CommentReply>, String> {
    let Some(number) = task.pr_number else {
        return Ok(Vec::new());
    };
    let answers = read_answers(std::fs::read_to_string(result_file).ok().as_deref());
    let mut replies: Vec<CommentReply> = Vec::new();
    let mut summary = format!(
        "{MARKER}revision-{} -->\nAIPM revision {} ({}):\n\n",
        task.revision,
        task.revision,
        match pushed {
            Some(sha) => format!("pushed {sha}"),
            None => "no code change".to_owned(),
        }
    );
    for item in items {
        let answer = answers.iter().find(|answer| answer.id == item.label);
        let (disposition, text) = reply_text(answer, pushed);
        summary.push_str(&format!("- {} ({}): {text}\n", item.label, item.author));
        let Some(comment_id) = item.comment_id else {
            continue;
        };
        // One reply per thread: a thread's later items are in the summary.
        if replies.iter().any(|reply| reply.comment_id == comment_id) {
            continue;
        }
        host.reply_to_review_comment(number, comment_id, &format!("{text}\n\n{MARKER}reply -->"))
            .await
            .map_err(|error| format!("replying on review thread {comment_id}: {error}"))?;
        replies.push(CommentReply {
            comment_id,
            disposition,
        });
    }
    if items.is_empty() {
        summary.push_str("- No feedback was readable; the work was reviewed against the brief.\n");
    }
    host.comment(number, &summary)
        .await
        .map_err(|error| format!("posting the revision summary: {error}"))?;
    let mut reviewers: Vec<String> = task
        .triggers
        .iter()
        .filter(|trigger| matches!(trigger.kind, TriggerKind::Review | TriggerKind::Comment))
        .map(|trigger| trigger.sender.clone())
        .collect();
    reviewers.sort();
    reviewers.dedup();
    host.request_review(number, &reviewers)
        .await
        .map_err(|error| format!("re-requesting review: {error}"))?;
    Ok(replies)
}
