//! One code task, start to finish: check out the branch, run the agent under its time limit
//! with heartbeats, commit and push what it changed, report on the pull request.

use std::path::PathBuf;
use std::time::Instant;

use aipm::model::CodeTask;
use aipm::ports::CodeHost;
use tokio_util::sync::CancellationToken;

use crate::Context;
use crate::agent::{self, log_tail};
use crate::git;

/// How a run ended, before it is recorded.
#[derive(Debug)]
pub enum JobEnd {
    Succeeded {
        sha: String,
        files: Vec<String>,
        log_tail: Option<String>,
    },
    /// `retry`: worth another attempt (the agent failed, git or the code host had a problem).
    Failed {
        error: String,
        retry: bool,
        log_tail: Option<String>,
    },
    Cancelled {
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
    let end = run_in(context, task, receipt, hand_back, &workspace, &log, started).await;
    let _ = tokio::fs::remove_dir_all(&workspace).await;
    let _ = tokio::fs::remove_file(&log).await;
    end
}

async fn run_in<H: CodeHost>(
    context: &Context<H>,
    task: &CodeTask,
    receipt: &str,
    hand_back: &CancellationToken,
    workspace: &std::path::Path,
    log: &std::path::Path,
    started: Instant,
) -> JobEnd {
    let config = &context.config;
    let token = match context.host.git_token().await {
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
    if let Err(error) = git::clone_branch(&config.git_remote, &task.branch, workspace, auth).await {
        return JobEnd::Failed {
            error,
            retry: true,
            log_tail: None,
        };
    }
    let task_env = [
        ("AIPM_TASK_FILE", "TASK.md".to_owned()),
        ("AIPM_TASK_ID", task.task_id.clone()),
        ("AIPM_STORY_ID", task.story_id.to_string()),
        ("AIPM_TASK_ATTEMPT", task.attempt.to_string()),
        ("AIPM_BRANCH", task.branch.clone()),
    ];
    let mut agent = match agent::spawn(
        &config.agent_command,
        workspace,
        log,
        &task_env,
        &config.agent_env,
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
        Stop::Cancelled => return JobEnd::Cancelled { log_tail: tail },
        Stop::TimedOut => return JobEnd::TimedOut { log_tail: tail },
        Stop::LeaseLost => return JobEnd::LeaseLost,
        Stop::Shutdown => return JobEnd::HandedBack { log_tail: tail },
    }

    let message = format!(
        "Story {}: work of AIPM code task {}",
        task.story_id, task.task_id
    );
    let committed = match git::commit_changes(workspace, &message).await {
        Ok(Some(committed)) => committed,
        Ok(None) => {
            return JobEnd::Failed {
                error: "the agent changed nothing".into(),
                retry: false,
                log_tail: tail,
            };
        }
        Err(error) => {
            return JobEnd::Failed {
                error,
                retry: true,
                log_tail: tail,
            };
        }
    };
    if let Err(error) = git::push(workspace, &task.branch, auth).await {
        return JobEnd::Failed {
            error,
            retry: true,
            log_tail: tail,
        };
    }
    if let Some(number) = task.pr_number {
        let report = pull_request_report(task, &committed, started.elapsed(), tail.as_deref());
        let reported = async {
            context.host.comment(number, &report).await?;
            context.host.mark_ready_for_review(number).await
        }
        .await;
        if let Err(error) = reported {
            return JobEnd::Failed {
                error: format!(
                    "pushed {}, but reporting on the pull request failed: {error}",
                    committed.sha
                ),
                retry: true,
                log_tail: tail,
            };
        }
    }
    JobEnd::Succeeded {
        sha: committed.sha,
        files: committed.files,
        log_tail: tail,
    }
}

fn pull_request_report(
    task: &CodeTask,
    committed: &git::Committed,
    took: std::time::Duration,
    tail: Option<&str>,
) -> String {
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
