//! The task's working copy: clone the branch, commit what the agent changed (without TASK.md),
//! push it back. Uses the git CLI, as an operator would.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

use aipm::rules::brief::BRIEF_PATH;

/// Attempts at a network git operation before it counts as a failure of this run.
const NETWORK_ATTEMPTS: u32 = 3;

async fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    git_with(dir, args, None).await
}

/// The token travels as an HTTP header set through git's environment (GIT_CONFIG_*), so it is
/// in no command line, remote URL or error message.
async fn git_with(dir: &Path, args: &[&str], token: Option<&str>) -> Result<String, String> {
    use base64::Engine;
    let mut command = Command::new("git");
    if let Some(token) = token {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        command
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Basic {basic}"),
            );
    }
    let output = command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "AIPM agent")
        .env("GIT_AUTHOR_EMAIL", "aipm-agent@localhost")
        .env("GIT_COMMITTER_NAME", "AIPM agent")
        .env("GIT_COMMITTER_EMAIL", "aipm-agent@localhost")
        .output()
        .await
        .map_err(|error| format!("cannot run git: {error}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "git {} failed: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

async fn with_retries<F, Fut>(mut operation: F) -> Result<String, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let mut last = String::new();
    for attempt in 0..NETWORK_ATTEMPTS {
        match operation().await {
            Ok(output) => return Ok(output),
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
    }
    Err(last)
}

/// A fresh checkout of `branch` in `workspace` (removed first if a previous run left it).
pub async fn clone_branch(
    remote: &str,
    branch: &str,
    workspace: &Path,
    token: Option<&str>,
) -> Result<(), String> {
    let _ = tokio::fs::remove_dir_all(workspace).await;
    let parent = workspace.parent().unwrap_or(Path::new("/"));
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    let target = workspace.display().to_string();
    let args = [
        "clone",
        "--quiet",
        "--single-branch",
        "--branch",
        branch,
        remote,
        &target,
    ];
    with_retries(|| git_with(parent, &args, token)).await?;
    Ok(())
}

/// What a commit recorded.
pub struct Committed {
    pub sha: String,
    pub files: Vec<String>,
}

/// Commits the agent's changes with TASK.md removed; `None` when the agent changed nothing.
pub async fn commit_changes(workspace: &Path, message: &str) -> Result<Option<Committed>, String> {
    git(
        workspace,
        &["rm", "--quiet", "--cached", "--ignore-unmatch", BRIEF_PATH],
    )
    .await?;
    let _ = tokio::fs::remove_file(workspace.join(BRIEF_PATH)).await;
    git(workspace, &["add", "--all"]).await?;
    let staged = git(workspace, &["diff", "--cached", "--name-only"]).await?;
    let files: Vec<String> = staged
        .lines()
        .filter(|file| *file != BRIEF_PATH)
        .map(str::to_owned)
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    git(
        workspace,
        &["commit", "--quiet", "--no-verify", "-m", message],
    )
    .await?;
    let sha = git(workspace, &["rev-parse", "HEAD"]).await?;
    Ok(Some(Committed { sha, files }))
}

/// The brief the branch was opened with: TASK.md in the checkout, or, once a run has removed it,
/// as the commit that added it left it.
pub async fn original_brief(workspace: &Path) -> Result<String, String> {
    if let Ok(text) = tokio::fs::read_to_string(workspace.join(BRIEF_PATH)).await {
        return Ok(text);
    }
    let added = git(
        workspace,
        &[
            "log",
            "--diff-filter=A",
            "--format=%H",
            "-1",
            "--",
            BRIEF_PATH,
        ],
    )
    .await?;
    if added.is_empty() {
        return Err(format!("the branch has no {BRIEF_PATH} in its history"));
    }
    git(workspace, &["show", &format!("{added}:{BRIEF_PATH}")]).await
}

pub async fn head_sha(workspace: &Path) -> Result<String, String> {
    git(workspace, &["rev-parse", "HEAD"]).await
}

fn is_rejected(error: &str) -> bool {
    ["non-fast-forward", "fetch first", "rejected"]
        .iter()
        .any(|sign| error.contains(sign))
}

/// Pushes without ever forcing. When the branch moved on the remote, rebases onto it once and
/// pushes again; a conflict ends the run with a clear error instead of overwriting anyone.
pub async fn push(workspace: &Path, branch: &str, token: Option<&str>) -> Result<(), String> {
    let refspec = format!("HEAD:refs/heads/{branch}");
    let args = ["push", "--quiet", "origin", &refspec];
    let mut last = String::new();
    for attempt in 0..NETWORK_ATTEMPTS {
        match git_with(workspace, &args, token).await {
            Ok(_) => return Ok(()),
            Err(error) if is_rejected(&error) => {
                git_with(workspace, &["fetch", "--quiet", "origin", branch], token).await?;
                if let Err(conflict) = git(workspace, &["rebase", "--quiet", "FETCH_HEAD"]).await {
                    let _ = git(workspace, &["rebase", "--abort"]).await;
                    return Err(format!(
                        "the branch {branch} moved while the agent worked and the work does not \
                         rebase onto it ({conflict}); nothing was pushed"
                    ));
                }
                return git_with(workspace, &args, token).await.map(|_| ()).map_err(|error| {
                    format!("the branch {branch} moved again after a rebase; nothing was forced: {error}")
                });
            }
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt))).await;
    }
    Err(last)
}
