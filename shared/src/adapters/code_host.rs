//! The code host a deployment is configured with, behind one type: `local_git` or `github`.
//! GitHub is reached with a personal token, from Secrets Manager in AWS (re-read after a TTL and
//! when GitHub refuses it) or the environment locally, or as the GitHub App with a token minted
//! for each repository. Tokens are held only inside the clients and never printed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use tokio::sync::Mutex;

use super::github::GitHubHost;
use super::github_app::{AppKey, GitHubApp, InstallationRepository};
use super::local_git::LocalGitHost;
use crate::config::{CodeHostConfig, GitHubCredentials, GitHubToken};
use crate::error::{Error, Result};
use crate::ports::{CodeHost, PullRequest, PullRequestState, ReviewComment, ReviewerDirectory};

#[derive(Debug, Clone)]
pub enum ConfiguredCodeHost {
    LocalGit(LocalGitHost),
    GitHub(Arc<RefreshingGitHub>),
}

/// How long a token read from Secrets Manager is used before it is read again, so a rotated
/// secret reaches running functions and workers without a restart.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);

/// Where the GitHub token comes from, and the copy last read from there.
pub struct GitHubTokenSource {
    token: GitHubToken,
    secrets: aws_sdk_secretsmanager::Client,
    ttl: Duration,
    cached: Mutex<Option<(String, Instant)>>,
}

impl GitHubTokenSource {
    pub fn new(token: GitHubToken, sdk: &SdkConfig, ttl: Duration) -> Self {
        Self {
            token,
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            ttl,
            cached: Mutex::new(None),
        }
    }

    /// The token, read again when the cached copy is older than the TTL or `refresh` is set
    /// (after GitHub refused it).
    pub async fn get(&self, refresh: bool) -> Result<String> {
        let mut cached = self.cached.lock().await;
        if let Some((token, read_at)) = cached.as_ref()
            && !refresh
            && read_at.elapsed() < self.ttl
        {
            return Ok(token.clone());
        }
        let token = match &self.token {
            GitHubToken::Value(value) => value.clone(),
            GitHubToken::Secret { arn } => self.read_secret(arn).await?,
        };
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    /// The secret's string value: the token itself, or JSON with a `token` field.
    async fn read_secret(&self, arn: &str) -> Result<String> {
        let secret = self
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|error| super::sdk_error("GitHub token secret", error))?;
        let text = secret
            .secret_string()
            .ok_or_else(|| Error::Internal("the GitHub token secret has no string value".into()))?;
        let from_json = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|json| json.get("token")?.as_str().map(str::to_owned));
        Ok(from_json.unwrap_or_else(|| text.trim().to_owned()))
    }
}

impl crate::ports::SecretSource for GitHubTokenSource {
    async fn secret(&self, refresh: bool) -> Result<String> {
        self.get(refresh).await
    }
}

/// The GitHub App, and where each repository it was asked about is reached (found once per
/// process when the project's link does not record it yet).
pub struct AppTokens {
    app: GitHubApp,
    targets: Mutex<HashMap<String, InstallationRepository>>,
}

impl AppTokens {
    pub fn new(app: GitHubApp) -> Self {
        Self {
            app,
            targets: Mutex::new(HashMap::new()),
        }
    }

    async fn target(
        &self,
        recorded: Option<InstallationRepository>,
        repository: &str,
    ) -> Result<InstallationRepository> {
        if let Some(recorded) = recorded {
            return Ok(recorded);
        }
        let key = repository.to_ascii_lowercase();
        if let Some(found) = self.targets.lock().await.get(&key) {
            return Ok(*found);
        }
        let (owner, name) = repository.split_once('/').unwrap_or((repository, ""));
        let found =
            self.app
                .resolve(owner, name)
                .await?
                .ok_or_else(|| Error::RepositoryDisconnected {
                    repository: repository.to_owned(),
                })?;
        self.targets.lock().await.insert(key, found);
        Ok(found)
    }

    /// A token for `repository` alone, minted again when it is about to expire or `refresh`
    /// is set (GitHub refused it), and the repository's name as GitHub says it now.
    async fn token(
        &self,
        recorded: Option<InstallationRepository>,
        repository: &str,
        refresh: bool,
    ) -> Result<(String, Option<String>)> {
        let target = self.target(recorded, repository).await?;
        let minted = self.app.token(target, refresh).await?;
        let current = minted.current_name(target.repository_id).map(str::to_owned);
        Ok((minted.token, current))
    }
}

/// Where the host's tokens come from.
enum Credentials {
    /// One personal token for every repository.
    Personal(GitHubTokenSource),
    /// The App's, one per repository.
    App(AppTokens),
}

/// The GitHub host with a token that is re-read (or, for the App, minted) after its lifetime,
/// and once more when GitHub answers 401, before the call is retried. Every call it retries is
/// safe to repeat: GitHub did nothing with a request it refused.
#[derive(Clone)]
pub struct RefreshingGitHub {
    /// `owner/name` this copy acts on; scoped copies share everything else.
    repository: String,
    default_branch: String,
    /// The App's installation and repository id, when the project's link records them.
    recorded: Option<InstallationRepository>,
    shared: Arc<SharedGitHub>,
}

/// What every repository's copy of the host shares: the credentials and the clients built.
struct SharedGitHub {
    configured_repository: String,
    configured_branch: String,
    api_url: String,
    credentials: Credentials,
    /// Per repository (one entry for all with a personal token), the client built for the
    /// token last used and that token.
    clients: Mutex<HashMap<String, (GitHubHost, String)>>,
}

impl std::fmt::Debug for RefreshingGitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RefreshingGitHub({})", self.repository)
    }
}

impl RefreshingGitHub {
    pub fn new(
        repository: &str,
        api_url: &str,
        default_branch: &str,
        tokens: GitHubTokenSource,
    ) -> Self {
        Self::with(
            repository,
            api_url,
            default_branch,
            Credentials::Personal(tokens),
        )
    }

    /// The host acting as the GitHub App, with a token of its own for each repository.
    pub fn as_app(repository: &str, api_url: &str, default_branch: &str, app: GitHubApp) -> Self {
        Self::with(
            repository,
            api_url,
            default_branch,
            Credentials::App(AppTokens::new(app)),
        )
    }

    fn with(
        repository: &str,
        api_url: &str,
        default_branch: &str,
        credentials: Credentials,
    ) -> Self {
        Self {
            repository: repository.to_owned(),
            default_branch: default_branch.to_owned(),
            recorded: None,
            shared: Arc::new(SharedGitHub {
                configured_repository: repository.to_owned(),
                configured_branch: default_branch.to_owned(),
                api_url: api_url.to_owned(),
                credentials,
                clients: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The token for git over HTTPS in this repository, from the same cache: with the App, one
    /// that has at least the safety margin left, so a push made with it does not outlive it.
    pub async fn token(&self) -> Result<String> {
        Ok(self.token_for(false).await?.0)
    }

    /// The token, and with the App the repository's current `owner/name`: a task recorded
    /// before a rename or a transfer still reaches it by GitHub's id, and its API calls go to
    /// the new name.
    async fn token_for(&self, refresh: bool) -> Result<(String, Option<String>)> {
        match &self.shared.credentials {
            Credentials::Personal(tokens) => Ok((tokens.get(refresh).await?, None)),
            Credentials::App(app) => app.token(self.recorded, &self.repository, refresh).await,
        }
    }

    async fn host(&self, refresh: bool) -> Result<GitHubHost> {
        let shared = &self.shared;
        let (token, current_name) = self.token_for(refresh).await?;
        let client_key = match shared.credentials {
            Credentials::Personal(_) => String::new(),
            Credentials::App(_) => self.repository.to_ascii_lowercase(),
        };
        let mut clients = shared.clients.lock().await;
        let built = match clients.get(&client_key) {
            Some((host, built_for)) if *built_for == token => host.clone(),
            _ => {
                let host = GitHubHost::new(
                    &shared.configured_repository,
                    &shared.api_url,
                    &shared.configured_branch,
                    &token,
                )?;
                clients.insert(client_key, (host.clone(), token));
                host
            }
        };
        let name = current_name.as_deref().unwrap_or(&self.repository);
        let (owner, repo) = name.split_once('/').unwrap_or((name, ""));
        Ok(built.on(owner, repo, &self.default_branch))
    }

    async fn call<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn(GitHubHost) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        match call(self.host(false).await?).await {
            Err(Error::CodeHostUnauthorized { message }) => {
                tracing::warn!(%message, "GitHub refused the token; reading it again");
                call(self.host(true).await?).await
            }
            other => other,
        }
    }
}

impl CodeHost for RefreshingGitHub {
    fn scoped(&self, repository: Option<&crate::project::RepositoryLink>) -> Self {
        let (name, default_branch) = match repository {
            Some(link) => (
                link.full_name(),
                // A delivery's repository names no base branch; reading needs none.
                if link.base_branch.is_empty() {
                    self.shared.configured_branch.clone()
                } else {
                    link.base_branch.clone()
                },
            ),
            None => (
                self.shared.configured_repository.clone(),
                self.shared.configured_branch.clone(),
            ),
        };
        let recorded = repository.and_then(|link| {
            Some(InstallationRepository {
                installation_id: link.installation_id?,
                repository_id: link.repository_id?,
            })
        });
        Self {
            repository: name,
            default_branch,
            recorded,
            shared: Arc::clone(&self.shared),
        }
    }

    async fn ensure_branch(&self, branch: &str) -> Result<()> {
        self.call(|host| async move { host.ensure_branch(branch).await })
            .await
    }

    async fn ensure_file(
        &self,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
    ) -> Result<()> {
        self.call(|host| async move { host.ensure_file(branch, path, content, message).await })
            .await
    }

    async fn ensure_draft_pull_request(
        &self,
        branch: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest> {
        self.call(|host| async move { host.ensure_draft_pull_request(branch, title, body).await })
            .await
    }

    async fn comment(&self, number: u64, body: &str) -> Result<()> {
        self.call(|host| async move { host.comment(number, body).await })
            .await
    }

    async fn mark_ready_for_review(&self, number: u64) -> Result<()> {
        self.call(|host| async move { host.mark_ready_for_review(number).await })
            .await
    }

    async fn pull_request_state(&self, number: u64) -> Result<PullRequestState> {
        self.call(|host| async move { host.pull_request_state(number).await })
            .await
    }

    async fn review_comments(&self, number: u64, review_id: u64) -> Result<Vec<ReviewComment>> {
        self.call(|host| async move { host.review_comments(number, review_id).await })
            .await
    }

    async fn reply_to_review_comment(
        &self,
        number: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<()> {
        self.call(
            |host| async move { host.reply_to_review_comment(number, comment_id, body).await },
        )
        .await
    }

    async fn request_review(&self, number: u64, logins: &[String]) -> Result<()> {
        self.call(|host| async move { host.request_review(number, logins).await })
            .await
    }
}

impl ReviewerDirectory for RefreshingGitHub {
    async fn permission(&self, login: &str) -> Result<String> {
        self.call(|host| async move { host.permission(login).await })
            .await
    }

    async fn own_login(&self) -> Result<String> {
        // An installation token cannot read /user; the App knows its own name.
        if let Credentials::App(app) = &self.shared.credentials {
            return app.app.bot_login().await;
        }
        self.call(|host| async move { host.own_login().await })
            .await
    }
}

impl ReviewerDirectory for ConfiguredCodeHost {
    async fn permission(&self, login: &str) -> Result<String> {
        match self {
            // Nobody reviews on the local host; its revisions come from AIPM itself.
            Self::LocalGit(_) => Ok("none".into()),
            Self::GitHub(host) => host.permission(login).await,
        }
    }

    async fn own_login(&self) -> Result<String> {
        match self {
            Self::LocalGit(_) => Ok("aipm".into()),
            Self::GitHub(host) => host.own_login().await,
        }
    }
}

impl ConfiguredCodeHost {
    /// Builds the host. For GitHub the token is read now, so a missing or unreadable secret
    /// stops the cold start instead of failing the first request.
    pub async fn connect(config: &CodeHostConfig, sdk: &SdkConfig) -> Result<Self> {
        match config {
            CodeHostConfig::LocalGit {
                repository,
                default_branch,
            } => Ok(Self::LocalGit(LocalGitHost::new(
                repository,
                default_branch,
            ))),
            CodeHostConfig::GitHub {
                repository,
                api_url,
                default_branch,
                credentials: GitHubCredentials::Token(token),
            } => {
                let host = RefreshingGitHub::new(
                    repository,
                    api_url,
                    default_branch,
                    GitHubTokenSource::new(token.clone(), sdk, TOKEN_TTL),
                );
                host.host(false).await?;
                Ok(Self::GitHub(Arc::new(host)))
            }
            // The key is read and parsed now; tokens are minted when a repository is used.
            CodeHostConfig::GitHub {
                repository,
                api_url,
                default_branch,
                credentials:
                    GitHubCredentials::App {
                        app_id,
                        private_key,
                    },
            } => {
                let app = connect_app(*app_id, private_key, api_url, sdk).await?;
                Ok(Self::GitHub(Arc::new(RefreshingGitHub::as_app(
                    repository,
                    api_url,
                    default_branch,
                    app,
                ))))
            }
        }
    }
}

/// The GitHub App with its key read (from Secrets Manager in AWS) and parsed now, so a missing
/// or unreadable key stops the cold start rather than the first request.
pub async fn connect_app(
    app_id: u64,
    private_key: &GitHubToken,
    api_url: &str,
    sdk: &SdkConfig,
) -> Result<GitHubApp> {
    let pem = GitHubTokenSource::new(private_key.clone(), sdk, TOKEN_TTL)
        .get(false)
        .await?;
    Ok(GitHubApp::new(app_id, AppKey::from_pem(&pem)?, api_url))
}

impl CodeHost for ConfiguredCodeHost {
    fn scoped(&self, repository: Option<&crate::project::RepositoryLink>) -> Self {
        match self {
            Self::LocalGit(host) => Self::LocalGit(host.scoped(repository)),
            Self::GitHub(host) => Self::GitHub(Arc::new(host.scoped(repository))),
        }
    }

    async fn git_token(&self) -> Result<Option<String>> {
        match self {
            Self::LocalGit(_) => Ok(None),
            Self::GitHub(host) => host.token().await.map(Some),
        }
    }

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

    async fn pull_request_state(&self, number: u64) -> Result<PullRequestState> {
        match self {
            Self::LocalGit(host) => host.pull_request_state(number).await,
            Self::GitHub(host) => host.pull_request_state(number).await,
        }
    }

    async fn review_comments(&self, number: u64, review_id: u64) -> Result<Vec<ReviewComment>> {
        match self {
            Self::LocalGit(host) => host.review_comments(number, review_id).await,
            Self::GitHub(host) => host.review_comments(number, review_id).await,
        }
    }

    async fn reply_to_review_comment(
        &self,
        number: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<()> {
        match self {
            Self::LocalGit(host) => host.reply_to_review_comment(number, comment_id, body).await,
            Self::GitHub(host) => host.reply_to_review_comment(number, comment_id, body).await,
        }
    }

    async fn request_review(&self, number: u64, logins: &[String]) -> Result<()> {
        match self {
            Self::LocalGit(host) => host.request_review(number, logins).await,
            Self::GitHub(host) => host.request_review(number, logins).await,
        }
    }
}
