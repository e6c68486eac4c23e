//! The `local_git` code host: a bare git repository on disk stands in for GitHub, so the whole
//! code-generation flow runs offline. Branches and commits are real git objects (written with
//! the git CLI, no working tree); pull requests are JSON files beside them under `aipm/pulls/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::{Error, Result};
use crate::ports::{CodeHost, PullRequest, PullRequestState, PullRequestStatus};

const ZERO_OID: &str = "0000000000000000000000000000000000000000";
/// Attempts at moving a branch when another writer moved it first.
const REF_ATTEMPTS: usize = 5;

#[derive(Debug, Clone)]
pub struct LocalGitHost {
    repository: PathBuf,
    default_branch: String,
}

/// A local pull request as stored on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalPullRequest {
    pub number: u64,
    pub branch: String,
    pub title: String,
    pub body: String,
    pub draft: bool,
    #[serde(default)]
    pub comments: Vec<String>,
    /// `open` unless someone closed or merged it by editing the file.
    #[serde(default = "open_state")]
    pub state: String,
}

fn open_state() -> String {
    "open".into()
}

fn unavailable(message: impl Into<String>) -> Error {
    Error::CodeHostUnavailable {
        message: message.into(),
    }
}

impl LocalGitHost {
    pub fn new(repository: impl Into<PathBuf>, default_branch: impl Into<String>) -> Self {
        Self {
            repository: repository.into(),
            default_branch: default_branch.into(),
        }
    }

    fn pulls_dir(&self) -> PathBuf {
        self.repository.join("aipm").join("pulls")
    }

    async fn git(
        &self,
        args: &[&str],
        envs: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Result<Option<String>> {
        let mut command = Command::new("git");
        command
            .arg("--git-dir")
            .arg(&self.repository)
            .args(args)
            .envs(envs.iter().copied())
            .env("GIT_AUTHOR_NAME", "AIPM")
            .env("GIT_AUTHOR_EMAIL", "aipm@localhost")
            .env("GIT_COMMITTER_NAME", "AIPM")
            .env("GIT_COMMITTER_EMAIL", "aipm@localhost")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|error| unavailable(format!("cannot run git: {error}")))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .await
                .map_err(|error| unavailable(format!("writing to git: {error}")))?;
        }
        let output = child
            .wait_with_output()
            .await
            .map_err(|error| unavailable(format!("git failed: {error}")))?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned()))
    }

    async fn resolve(&self, reference: &str) -> Result<Option<String>> {
        self.git(&["rev-parse", "--verify", "--quiet", reference], &[], None)
            .await
    }

    async fn required(&self, reference: &str) -> Result<String> {
        self.resolve(reference).await?.ok_or_else(|| {
            unavailable(format!(
                "{reference} does not exist in {}",
                self.repository.display()
            ))
        })
    }

    /// Every pull request on disk.
    pub async fn pull_requests(&self) -> Result<Vec<LocalPullRequest>> {
        let mut pulls = Vec::new();
        let mut entries = match tokio::fs::read_dir(self.pulls_dir()).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(pulls),
            Err(error) => return Err(unavailable(format!("reading pull requests: {error}"))),
        };
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|error| unavailable(error.to_string()))?
        {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                let text = tokio::fs::read_to_string(&path)
                    .await
                    .map_err(|error| unavailable(error.to_string()))?;
                if let Ok(pull) = serde_json::from_str(&text) {
                    pulls.push(pull);
                }
            }
        }
        pulls.sort_by_key(|pull: &LocalPullRequest| pull.number);
        Ok(pulls)
    }

    async fn write_pull(&self, pull: &LocalPullRequest) -> Result<()> {
        let path = self.pulls_dir().join(format!("{}.json", pull.number));
        let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        let text = serde_json::to_string_pretty(pull)
            .map_err(|error| Error::Internal(error.to_string()))?;
        tokio::fs::write(&temporary, text)
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        tokio::fs::rename(&temporary, &path)
            .await
            .map_err(|error| unavailable(error.to_string()))
    }

    async fn pull(&self, number: u64) -> Result<LocalPullRequest> {
        let path = self.pulls_dir().join(format!("{number}.json"));
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|error| unavailable(format!("pull request {number}: {error}")))?;
        serde_json::from_str(&text).map_err(|error| Error::Internal(error.to_string()))
    }

    fn url(&self, number: u64) -> String {
        format!("file://{}#pull/{number}", self.repository.display())
    }
}

impl CodeHost for LocalGitHost {
    /// The local stand-in for GitHub is one repository on disk: every project's branches live
    /// in it (they are named by project key, so they never meet); a link chooses the base branch.
    fn scoped(&self, repository: Option<&crate::project::RepositoryLink>) -> Self {
        let mut scoped = self.clone();
        if let Some(link) = repository.filter(|link| !link.base_branch.is_empty()) {
            scoped.default_branch = link.base_branch.clone();
        }
        scoped
    }

    async fn ensure_branch(&self, branch: &str) -> Result<()> {
        let reference = format!("refs/heads/{branch}");
        if self.resolve(&reference).await?.is_some() {
            return Ok(());
        }
        let base = self
            .required(&format!("refs/heads/{}", self.default_branch))
            .await?;
        // The zero id as the old value means "only if it does not exist yet".
        let created = self
            .git(&["update-ref", &reference, &base, ZERO_OID], &[], None)
            .await?;
        if created.is_none() && self.resolve(&reference).await?.is_none() {
            return Err(unavailable(format!("could not create branch {branch}")));
        }
        Ok(())
    }

    async fn ensure_file(
        &self,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
    ) -> Result<()> {
        let reference = format!("refs/heads/{branch}");
        let blob = self
            .git(&["hash-object", "-w", "--stdin"], &[], Some(content))
            .await?
            .ok_or_else(|| unavailable("git hash-object failed"))?;
        for _ in 0..REF_ATTEMPTS {
            let head = self.required(&reference).await?;
            if self.resolve(&format!("{head}:{path}")).await?.as_deref() == Some(blob.as_str()) {
                return Ok(());
            }
            let index =
                std::env::temp_dir().join(format!("aipm-index-{}", uuid::Uuid::new_v4().simple()));
            let index_path = index.display().to_string();
            let env = [("GIT_INDEX_FILE", index_path.as_str())];
            let tree = async {
                self.git(&["read-tree", &head], &env, None).await?;
                self.git(
                    &[
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        &format!("100644,{blob},{path}"),
                    ],
                    &env,
                    None,
                )
                .await?;
                self.git(&["write-tree"], &env, None).await
            }
            .await;
            let _ = tokio::fs::remove_file(&index).await;
            let tree = tree?.ok_or_else(|| unavailable("git write-tree failed"))?;
            let commit = self
                .git(
                    &["commit-tree", &tree, "-p", &head, "-m", message],
                    &[],
                    None,
                )
                .await?
                .ok_or_else(|| unavailable("git commit-tree failed"))?;
            // Compare-and-swap: only moves the branch if nobody else moved it meanwhile.
            if self
                .git(&["update-ref", &reference, &commit, &head], &[], None)
                .await?
                .is_some()
            {
                return Ok(());
            }
        }
        Err(unavailable(format!(
            "branch {branch} kept moving while writing {path}"
        )))
    }

    async fn ensure_draft_pull_request(
        &self,
        branch: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest> {
        let dir = self.pulls_dir();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|error| unavailable(error.to_string()))?;
        // One claim file per branch, created exclusively: concurrent callers agree on one PR.
        let claim = dir.join(format!("branch-{}", crate::rules::brief::slug(branch)));
        let claimed = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&claim)
            .is_ok();
        if !claimed {
            for _ in 0..50 {
                if let Some(pull) = self
                    .pull_requests()
                    .await?
                    .into_iter()
                    .find(|pull| pull.branch == branch)
                {
                    return Ok(PullRequest {
                        number: pull.number,
                        url: self.url(pull.number),
                    });
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            return Err(unavailable(format!(
                "the pull request for {branch} is still being opened"
            )));
        }
        let mut number = self
            .pull_requests()
            .await?
            .iter()
            .map(|pull| pull.number)
            .max()
            .unwrap_or(0)
            + 1;
        loop {
            let slot = dir.join(format!("{number}.slot"));
            if std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&slot)
                .is_ok()
            {
                break;
            }
            number += 1;
        }
        let pull = LocalPullRequest {
            number,
            branch: branch.to_owned(),
            title: title.to_owned(),
            body: body.to_owned(),
            draft: true,
            comments: Vec::new(),
            state: open_state(),
        };
        self.write_pull(&pull).await?;
        Ok(PullRequest {
            number,
            url: self.url(number),
        })
    }

    async fn comment(&self, number: u64, body: &str) -> Result<()> {
        let mut pull = self.pull(number).await?;
        pull.comments.push(body.to_owned());
        self.write_pull(&pull).await
    }

    async fn mark_ready_for_review(&self, number: u64) -> Result<()> {
        let mut pull = self.pull(number).await?;
        pull.draft = false;
        self.write_pull(&pull).await
    }

    async fn pull_request_state(&self, number: u64) -> Result<PullRequestState> {
        let pull = self.pull(number).await?;
        let status = match pull.state.as_str() {
            "merged" => PullRequestStatus::Merged,
            "closed" => PullRequestStatus::Closed,
            _ => PullRequestStatus::Open,
        };
        Ok(PullRequestState {
            status,
            head_ref: pull.branch,
        })
    }
}

/// Creates a bare repository with one commit on `default_branch`, for local runs and tests.
pub async fn init_bare_repository(path: &Path, default_branch: &str) -> Result<()> {
    if path.join("HEAD").exists() {
        return Ok(());
    }
    let status = Command::new("git")
        .args([
            "init",
            "--bare",
            "--quiet",
            "--initial-branch",
            default_branch,
        ])
        .arg(path)
        .status()
        .await
        .map_err(|error| unavailable(format!("git init: {error}")))?;
    if !status.success() {
        return Err(unavailable("git init --bare failed"));
    }
    let host = LocalGitHost::new(path, default_branch);
    let blob = host
        .git(
            &["hash-object", "-w", "--stdin"],
            &[],
            Some("# Example project\n"),
        )
        .await?
        .ok_or_else(|| unavailable("git hash-object failed"))?;
    let tree = host
        .git(
            &["mktree"],
            &[],
            Some(&format!("100644 blob {blob}\tREADME.md\n")),
        )
        .await?
        .ok_or_else(|| unavailable("git mktree failed"))?;
    let commit = host
        .git(&["commit-tree", &tree, "-m", "Initial commit"], &[], None)
        .await?
        .ok_or_else(|| unavailable("git commit-tree failed"))?;
    host.git(
        &[
            "update-ref",
            &format!("refs/heads/{default_branch}"),
            &commit,
        ],
        &[],
        None,
    )
    .await?
    .ok_or_else(|| unavailable("git update-ref failed"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn repository() -> (LocalGitHost, PathBuf) {
        let path =
            std::env::temp_dir().join(format!("aipm-local-git-{}", uuid::Uuid::new_v4().simple()));
        init_bare_repository(&path, "main").await.unwrap();
        (LocalGitHost::new(&path, "main"), path)
    }

    #[tokio::test]
    async fn branches_files_and_pull_requests_are_idempotent() {
        let (host, path) = repository().await;
        host.ensure_branch("aipm/story-1-x-abc").await.unwrap();
        host.ensure_branch("aipm/story-1-x-abc").await.unwrap();
        host.ensure_file("aipm/story-1-x-abc", "TASK.md", "# brief\n", "Add TASK.md")
            .await
            .unwrap();
        let head = host
            .required("refs/heads/aipm/story-1-x-abc")
            .await
            .unwrap();
        host.ensure_file("aipm/story-1-x-abc", "TASK.md", "# brief\n", "Add TASK.md")
            .await
            .unwrap();
        assert_eq!(
            host.required("refs/heads/aipm/story-1-x-abc")
                .await
                .unwrap(),
            head,
            "no second commit"
        );
        let content = host
            .git(&["show", &format!("{head}:TASK.md")], &[], None)
            .await
            .unwrap();
        assert_eq!(content.as_deref(), Some("# brief"));
        assert!(
            host.resolve(&format!("{head}:README.md"))
                .await
                .unwrap()
                .is_some()
        );

        let (first, second) = tokio::join!(
            host.ensure_draft_pull_request("aipm/story-1-x-abc", "Story 1", "body"),
            host.ensure_draft_pull_request("aipm/story-1-x-abc", "Story 1", "body"),
        );
        assert_eq!(first.unwrap(), second.unwrap());
        let other = host
            .ensure_draft_pull_request("aipm/story-2-y-def", "Story 2", "b")
            .await
            .unwrap();
        assert_eq!(other.number, 2);
        host.comment(1, "done").await.unwrap();
        host.mark_ready_for_review(1).await.unwrap();
        let pulls = host.pull_requests().await.unwrap();
        assert_eq!(pulls.len(), 2);
        assert!(!pulls[0].draft && pulls[0].comments == ["done"]);
        let _ = std::fs::remove_dir_all(path);
    }

    #[tokio::test]
    async fn a_missing_repository_is_unavailable_not_a_panic() {
        let host = LocalGitHost::new("/nonexistent/aipm.git", "main");
        assert!(matches!(
            host.ensure_branch("b").await,
            Err(Error::CodeHostUnavailable { .. })
        ));
    }
}
