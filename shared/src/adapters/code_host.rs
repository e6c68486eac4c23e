//! The code host a deployment is configured with, behind one type: `local_git` or `github`.
//! The GitHub token comes from Secrets Manager in AWS and from the environment locally; it is
//! held only inside the client and never printed.

use aws_config::SdkConfig;

use super::github::GitHubHost;
use super::local_git::LocalGitHost;
use crate::config::{CodeHostConfig, GitHubToken};
use crate::error::{Error, Result};
use crate::ports::{CodeHost, PullRequest};

#[derive(Debug, Clone)]
pub enum ConfiguredCodeHost {
    LocalGit(LocalGitHost),
    GitHub(GitHubHost),
}

/// Reads the token: the secret's string value (plain, or JSON with a `token` field).
pub async fn github_token(token: &GitHubToken, sdk: &SdkConfig) -> Result<String> {
    match token {
        GitHubToken::Value(value) => Ok(value.clone()),
        GitHubToken::Secret { arn } => {
            let client = aws_sdk_secretsmanager::Client::new(sdk);
            let secret = client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|error| super::sdk_error("GitHub token secret", error))?;
            let text = secret.secret_string().ok_or_else(|| {
                Error::Internal("the GitHub token secret has no string value".into())
            })?;
            let token = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|json| {
                    json.get("token")
                        .and_then(|t| t.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_else(|| text.trim().to_owned());
            Ok(token)
        }
    }
}

impl ConfiguredCodeHost {
    /// Builds the host; also returns the token for git over HTTPS when the host is GitHub.
    pub async fn connect(
        config: &CodeHostConfig,
        sdk: &SdkConfig,
    ) -> Result<(Self, Option<String>)> {
        match config {
            CodeHostConfig::LocalGit {
                repository,
                default_branch,
            } => Ok((
                Self::LocalGit(LocalGitHost::new(repository, default_branch)),
                None,
            )),
            CodeHostConfig::GitHub {
                repository,
                api_url,
                default_branch,
                token,
            } => {
                let token = github_token(token, sdk).await?;
                let host = GitHubHost::new(repository, api_url, default_branch, &token)?;
                Ok((Self::GitHub(host), Some(token)))
            }
        }
    }
}

impl CodeHost for ConfiguredCodeHost {
    async fn ensure_branch(&self, branch: &str) -> Result<()> {
        match self {
            Self::LocalGit(host) => host.ensure_branch(branch).await,
            Self::GitHub(host) => host.ensure_branch(branch).await,
        }
    }

    async fn ensure_file(
        &self,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
    ) -> Result<()> {
        match self {
            Self::LocalGit(host) => host.ensure_file(branch, path, content, message).await,
            Self::GitHub(host) => host.ensure_file(branch, path, content, message).await,
        }
    }

    async fn ensure_draft_pull_request(
        &self,
        branch: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest> {
        match self {
            Self::LocalGit(host) => host.ensure_draft_pull_request(branch, title, body).await,
            Self::GitHub(host) => host.ensure_draft_pull_request(branch, title, body).await,
        }
    }

    async fn comment(&self, number: u64, body: &str) -> Result<()> {
        match self {
            Self::LocalGit(host) => host.comment(number, body).await,
            Self::GitHub(host) => host.comment(number, body).await,
        }
    }

    async fn mark_ready_for_review(&self, number: u64) -> Result<()> {
        match self {
            Self::LocalGit(host) => host.mark_ready_for_review(number).await,
            Self::GitHub(host) => host.mark_ready_for_review(number).await,
        }
    }
}
