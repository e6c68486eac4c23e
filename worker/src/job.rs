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
    let (workspace, log) = (files.workspace, files.log);
    let config = &context.config;
    // Every call about this task goes to the repository it records (its project's).
    let host = context.host.scoped(task.repository.as_ref());
    let host = &host;
    match revision::pull_request_closed(host, task).await {
        Ok(None) => {}
        Ok(Some(reason)) => {
            return JobEnd::Cancelled {
                reason,
                log_tail: None,
            };
        }
        Err(error) => {
            return JobEnd::Failed {
                error,
                retry: true,
                log_tail: None,
            };
        }
    }
    let token = match host.git_token().await {
        Ok(token) => token,
        Err(error) => {
            return JobEnd::Failed {
                error: error.to_string(),
                retry: true,
                log_tail: None,
            };
        }
    };
    let auth = token.as_deref();
    if let Err(error) =
        git::clone_branch(&config.remote_for(task), &task.branch, workspace, auth).await
    {
        return JobEnd::Failed {
            error,
            retry: true,
            log_tail: None,
        };
    }
    let follows = task.kind == TaskKind::Revise || task.parent_task_id.is_some();
    let items = if follows {
        match revision::prepare_brief(host, task, workspace).await {
            Ok(items) => items,
            Err(error) => {
                return JobEnd::Failed {
                    error,
                    retry: true,
                    log_tail: None,
                };
            }
        }
    } else {
        Vec::new()
    };
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
    if let Some(user) = &config.agent_user
        && let Err(error) = hand_over(files, user)
    {
        return JobEnd::Failed {
            error: format!("cannot hand the workspace to {}: {error}", user.name),
            retry: true,
            log_tail: None,
        };
    }
    let mut agent = match agent::spawn(
        &config.agent_command,
        workspace,
        log,
        &task_env,
        &config.agent_env,
        config.agent_user.as_ref(),
    ) {
        Ok(agent) => agent,
        Err(error) => {
            return JobEnd::Failed {
                error: format!("cannot start the agent: {error}"),
                retry: true,
                log_tail: None,
            };
        }
    };
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
    if config.agent_user.is_some()
        && let Err(error) = take_back(files)
    {
        return JobEnd::Failed {
            error: format!("cannot take the workspace back from the agent: {error}"),
            retry: true,
            log_tail: log_tail(log),
        };
    }
    let tail = log_tail(log);
    match stop {
        Stop::Exited(Ok(status)) if status.success() => {}
        Stop::Exited(Ok(status)) => {
            return JobEnd::Failed {
                error: format!("the agent exited with {status}"),
                retry: true,
                log_tail: tail,
            };
        }
        Stop::Exited(Err(error)) => {
            return JobEnd::Failed {
                error: format!("waiting for the agent: {error}"),
                retry: true,
                log_tail: tail,
            };
        }
        Stop::Cancelled => {
            return JobEnd::Cancelled {
                reason: "cancelled while running".into(),
                log_tail: tail,
            };
        }
        Stop::TimedOut => return JobEnd::TimedOut { log_tail: tail },
        Stop::LeaseLost => return JobEnd::LeaseLost,
        Stop::Shutdown => return JobEnd::HandedBack { log_tail: tail },
    }

    let message = match task.kind {
        TaskKind::Generate => format!(
            "Story {}: work of AIPM code task {}",
            task.story_id, task.task_id
        ),
        TaskKind::Revise => revision::commit_message(task),
    };
    let committed = match git::commit_changes(workspace, &message).await {
        Ok(committed) => committed,
        Err(error) => {
            return JobEnd::Failed {
                error,
                retry: true,
                log_tail: tail,
            };
        }
    };
    let committed = match (committed, task.kind) {
        (Some(committed), _) => Some(committed),
        // A revision may answer its reviewers without changing code.
        (None, TaskKind::Revise) => None,
        (None, TaskKind::Generate) => {
            return JobEnd::Failed {
                error: "the agent changed nothing".into(),
                retry: false,
                log_tail: tail,
            };
        }
    };
    // The run may have outlived the token it cloned with: the host is asked again right before
    // the push (as the App, it mints a new token when less than its margin is left).
    if committed.is_some()
        && let Err(error) = push(host, workspace, &task.branch).await
    {
        return JobEnd::Failed {
            error,
            retry: true,
            log_tail: tail,
        };
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
            &items,
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
    let replies = match reported {
        Ok(replies) => replies,
        Err(error) => {
            return JobEnd::Failed {
                error: format!("pushed {sha}, but reporting on the pull request failed: {error}"),
                retry: true,
                log_tail: tail,
            };
        }
    };
    JobEnd::Succeeded {
        sha,
        files: committed
            .map(|committed| committed.files)
            .unwrap_or_default(),
        log_tail: tail,
        replies,
    }
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
