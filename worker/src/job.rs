//! One code task, start to finish: check out the branch, run the agent under its time limit
//! with heartbeats, commit and push what it changed, report on the pull request.

use std::path::PathBuf;
use std::time::Instant;

use aipm::model::{CodeTask, CommentReply, TaskKind};
use aipm::ports::CodeHost;
use tokio_util::sync::CancellationToken;

use crate::Context;
use crate::agent::{self, log_tail};
use crate::git;
use crate::revision;

/// How a run ended, before it is recorded.
#[derive(Debug)]
pub enum JobEnd {
    Succeeded {
        sha: String,
        files: Vec<String>,
        log_tail: Option<String>,
        replies: Option<Vec<CommentReply>>,
    },
    /// `retry`: worth another attempt (the agent failed, git or the code host had a problem).
    Failed {
        error: String,
        retry: bool,
        log_tail: Option<String>,
    },
    Cancelled {
        reason: String,
        log_tail: Option<String>,
    },
    TimedOut {
        log_tail: Option<String>,
    },
    /// Another worker holds the task now; record nothing.
    LeaseLost,
    /// The worker is shutting down; give the task back.
    HandedBack {
        log_tail: Option<String>,
    },
}

enum Stop {
    Exited(std::io::Result<std::process::ExitStatus>),
    Cancelled,
    TimedOut,
    LeaseLost,
    Shutdown,
}

pub async fn run<H: CodeHost>(
    context: &Context<H>,
    task: &CodeTask,
    receipt: &str,
    hand_back: &CancellationToken,
) -> JobEnd {
    let started = Instant::now();
    let workspace: PathBuf = context
        .config
        .work_dir
        .join(format!("{}-{}", task.task_id, task.attempt));
    let log = context
        .config
        .work_dir
        .join(format!("{}-{}.log", task.task_id, task.attempt));
    // Outside the checkout, so `git add --all` never commits the agent's answers.
    let result_file = context
        .config
        .work_dir
        .join(format!("{}-{}.result.json", task.task_id, task.attempt));
    let files = RunFiles {
        workspace: &workspace,
        log: &log,
        result: &result_file,
    };
    let end = run_in(context, task, receipt, hand_back, &files, started).await;
    let _ = tokio::fs::remove_dir_all(&workspace).await;
    let _ = tokio::fs::remove_file(&log).await;
    let _ = tokio::fs::remove_file(&result_file).await;
    end
}

/// Gives the checkout and an empty answers file to the agent's account.
fn hand_over(files: &RunFiles<'_>, user: &crate::isolation::AgentUser) -> std::io::Result<()> {
    std::fs::write(files.result, "")?;
    crate::isolation::hand_over(files.result, user.uid, user.gid)?;
    crate::isolation::hand_over(files.workspace, user.uid, user.gid)
}

/// Takes the checkout and the answers back for the worker, so that it commits as itself.
fn take_back(files: &RunFiles<'_>) -> std::io::Result<()> {
    let (uid, gid) = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    crate::isolation::take_back(files.result, uid, gid)?;
    crate::isolation::take_back(files.workspace, uid, gid)
}

/// Where one run works: its checkout, the agent's log, the agent's answers.
struct RunFiles<'a> {
    workspace: &'a std::path::Path,
    log: &'a std::path::Path,
    result: &'a std::path::Path,
}

/// Pushes the branch with the host's credential as of now.
async fn push<H: CodeHost>(
    host: &H,
    workspace: &std::path::Path,
    branch: &str,
) -> Result<(), String> {
    let token = host.git_token().await.map_err(|error| error.to_string())?;
    git::push(workspace, branch, token.as_deref()).await
}

async fn run_in<H: CodeHost>(
    context: &Context<H>,
    task: &CodeTask,
    receipt: &str,
    hand_back: &CancellationToken,
    files: &RunFiles<'_>,
    started: Instant,
) -> JobEnd {
    // Every call about this task goes to the repository it records (its project's).
    let host = context.host.scoped(task.repository.as_ref());
    let run = async {
        let items = prepare(&host, context, task, files.workspace).await?;
        let tail = run_agent(context, task, receipt, hand_back, files).await?;
        deliver(&host, task, &items, files, tail, started).await
    };
    run.await.unwrap_or_else(|end| end)
}

/// A failure worth another attempt, before or after the agent ran.
fn retryable(error: impl Into<String>, log_tail: Option<String>) -> JobEnd {
    JobEnd::Failed {
        error: error.into(),
        retry: true,
        log_tail,
    }
}

/// Before the agent: the pull request still open (for a revision), the branch checked out, and
/// for a revision or retry the brief of what to answer.
async fn prepare<H: CodeHost>(
    host: &H,
    context: &Context<H>,
    task: &CodeTask,
    workspace: &std::path::Path,
) -> Result<Vec<aipm::rules::revision::FeedbackItem>, JobEnd> {
    match revision::pull_request_closed(host, task).await {
        Ok(None) => {}
        Ok(Some(reason)) => {
            return Err(JobEnd::Cancelled {
                reason,
                log_tail: None,
            });
        }
        Err(error) => return Err(retryable(error, None)),
    }
    let token = host
        .git_token()
        .await
        .map_err(|error| retryable(error.to_string(), None))?;
    git::clone_branch(
        &context.config.remote_for(task),
        &task.branch,
        workspace,
        token.as_deref(),
    )
    .await
    .map_err(|error| retryable(error, None))?;
    if revision::follows_up(task) {
        revision::prepare_brief(host, task, workspace)
            .await
            .map_err(|error| retryable(error, None))
    } else {
        Ok(Vec::new())
    }
}

/// The agent in the checkout, under its time limit, with heartbeats; its log's tail when it
/// exited successfully.
async fn run_agent<H: CodeHost>(
    context: &Context<H>,
    task: &CodeTask,
    receipt: &str,
    hand_back: &CancellationToken,
    files: &RunFiles<'_>,
) -> Result<Option<String>, JobEnd> {
    let config = &context.config;
    let task_env = [
        ("AIPM_TASK_KIND", kind_name(task.kind).to_owned()),
        ("AIPM_REVISION", task.revision.to_string()),
        ("AIPM_RESULT_FILE", files.result.display().to_string()),
        ("AIPM_TASK_FILE", "TASK.md".to_owned()),
        ("AIPM_TASK_ID", task.task_id.clone()),
        ("AIPM_STORY_ID", task.story_id.to_string()),
        ("AIPM_TASK_ATTEMPT", task.attempt.to_string()),
        ("AIPM_BRANCH", task.branch.clone()),
        ("AIPM_AGENT_PROMPT", crate::presets::AGENT_PROMPT.to_owned()),
    ];
    if let Some(user) = &config.agent_user {
        hand_over(files, user).map_err(|error| {
            retryable(
                format!("cannot hand the workspace to {}: {error}", user.name),
                None,
            )
        })?;
    }
    let mut agent = agent::spawn(
        &config.agent_command,
        files.workspace,
        files.log,
        &task_env,
        &config.agent_env,
        config.agent_user.as_ref(),
    )
    .map_err(|error| retryable(format!("cannot start the agent: {error}"), None))?;
    let deadline = tokio::time::sleep(config.agent_timeout);
    tokio::pin!(deadline);
    let mut beat = tokio::time::interval(config.heartbeat);
    beat.tick().await;
    let stop = loop {
        tokio::select! {
            status = agent.wait() => break Stop::Exited(status),
            () = &mut deadline => break Stop::TimedOut,
            () = hand_back.cancelled() => break Stop::Shutdown,
            _ = beat.tick() => match context.heartbeat(task, receipt).await {
                crate::Beat::Continue => {}
                crate::Beat::Cancel => break Stop::Cancelled,
                crate::Beat::Lost => break Stop::LeaseLost,
            },
        }
    };
    if !matches!(stop, Stop::Exited(_)) {
        agent.stop().await;
    }
    if config.agent_user.is_some() {
        take_back(files).map_err(|error| {
            retryable(
                format!("cannot take the workspace back from the agent: {error}"),
                log_tail(files.log),
            )
        })?;
    }
    let tail = log_tail(files.log);
    match stop {
        Stop::Exited(Ok(status)) if status.success() => Ok(tail),
        Stop::Exited(Ok(status)) => Err(retryable(format!("the agent exited with {status}"), tail)),
        Stop::Exited(Err(error)) => Err(retryable(format!("waiting for the agent: {error}"), tail)),
        Stop::Cancelled => Err(JobEnd::Cancelled {
            reason: "cancelled while running".into(),
            log_tail: tail,
        }),
        Stop::TimedOut => Err(JobEnd::TimedOut { log_tail: tail }),
        Stop::LeaseLost => Err(JobEnd::LeaseLost),
        Stop::Shutdown => Err(JobEnd::HandedBack { log_tail: tail }),
    }
}

/// After the agent: its work committed and pushed, and reported on the pull request (a
/// revision answers each review item; a first run comments and marks the pull request ready).
async fn deliver<H: CodeHost>(
    host: &H,
    task: &CodeTask,
    items: &[aipm::rules::revision::FeedbackItem],
    files: &RunFiles<'_>,
    tail: Option<String>,
    started: Instant,
) -> Result<JobEnd, JobEnd> {
    let workspace = files.workspace;
    let message = match task.kind {
        TaskKind::Generate => format!(
            "Story {}: work of AIPM code task {}",
            task.story_id, task.task_id
        ),
        TaskKind::Revise => revision::commit_message(task),
    };
    let committed = git::commit_changes(workspace, &message)
        .await
        .map_err(|error| retryable(error, tail.clone()))?;
    let committed = match (committed, task.kind) {
        (Some(committed), _) => Some(committed),
        // A revision may answer its reviewers without changing code.
        (None, TaskKind::Revise) => None,
        (None, TaskKind::Generate) => {
            return Err(JobEnd::Failed {
                error: "the agent changed nothing".into(),
                retry: false,
                log_tail: tail,
            });
        }
    };
    // The run may have outlived the token it cloned with: the host is asked again right before
    // the push (as the App, it mints a new token when less than its margin is left).
    if committed.is_some() {
        push(host, workspace, &task.branch)
            .await
            .map_err(|error| retryable(error, tail.clone()))?;
    }
    // After a rebase the pushed commit is not the one the agent's work was first committed as.
    let sha = git::head_sha(workspace).await.unwrap_or_default();
    let committed = committed.map(|committed| git::Committed {
        sha: sha.clone(),
        files: committed.files,
    });
    let reported = match (task.kind, task.pr_number) {
        (TaskKind::Revise, _) => revision::report(
            host,
            task,
            items,
            files.result,
            committed.as_ref().map(|committed| committed.sha.as_str()),
        )
        .await
        .map(Some),
        (TaskKind::Generate, Some(number)) => {
            let report =
                pull_request_report(task, committed.as_ref(), started.elapsed(), tail.as_deref());
            async {
                host.comment(number, &report).await?;
                host.mark_ready_for_review(number).await
            }
            .await
            .map(|()| None)
            .map_err(|error| error.to_string())
        }
        (TaskKind::Generate, None) => Ok(None),
    };
    let replies = reported.map_err(|error| {
        retryable(
            format!("pushed {sha}, but reporting on the pull request failed: {error}"),
            tail.clone(),
        )
    })?;
    Ok(JobEnd::Succeeded {
        sha,
        files: committed
            .map(|committed| committed.files)
            .unwrap_or_default(),
        log_tail: tail,
        replies,
    })
}

fn kind_name(kind: TaskKind) -> &'static str {
    match kind {
        TaskKind::Generate => "generate",
        TaskKind::Revise => "revise",
    }
}

fn pull_request_report(
    task: &CodeTask,
    committed: Option<&git::Committed>,
    took: std::time::Duration,
    tail: Option<&str>,
) -> String {
    let Some(committed) = committed else {
        return format!("AIPM code task `{}` changed nothing.", task.task_id);
    };
    let mut report = format!(
        "AIPM code task `{}` (attempt {}) pushed {} in {}s.\n\nFiles changed ({}):\n",
        task.task_id,
        task.attempt,
        committed.sha,
        took.as_secs(),
        committed.files.len()
    );
    for file in committed.files.iter().take(200) {
        report.push_str(&format!("- `{file}`\n"));
    }
    if let Some(tail) = tail {
        report.push_str(&format!(
            "\n<details><summary>Agent log (tail)</summary>\n\n```\n{tail}\n```\n</details>\n"
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use aipm::adapters::memory::MemoryCodeHost;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@localhost")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@localhost")
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    /// A run may outlive the credential it cloned with, so the push asks the host again: with
    /// the GitHub App that ask mints a new token when the old one is about to expire
    /// (tests/tests/github_app.rs shows that side).
    #[tokio::test]
    async fn the_push_asks_the_host_for_its_credential_again() {
        let root = std::env::temp_dir().join(format!("aipm-job-push-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let seed = root.join("seed");
        std::fs::create_dir_all(&seed).unwrap();
        git(&seed, &["init", "--quiet", "-b", "main"]);
        std::fs::write(seed.join("README.md"), "seed\n").unwrap();
        git(&seed, &["add", "."]);
        git(&seed, &["commit", "--quiet", "-m", "seed"]);
        git(&root, &["clone", "--quiet", "--bare", "seed", "remote.git"]);
        git(&root, &["clone", "--quiet", "remote.git", "work"]);
        let work = root.join("work");
        std::fs::write(work.join("main.rs"), "fn main() {}\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "--quiet", "-m", "the agent's work"]);

        let host = MemoryCodeHost::new();
        assert_eq!(host.state().git_token_asks, 0);
        push(&host, &work, "aipm/SHOP-1-x").await.expect("pushed");
        assert_eq!(
            host.state().git_token_asks,
            1,
            "asked right before the push"
        );
        git(
            &root.join("remote.git"),
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                "refs/heads/aipm/SHOP-1-x",
            ],
        );
        std::fs::remove_dir_all(&root).ok();
    }
}
