//! The `github` code host: GitHub's REST API (and, for ready-for-review, its GraphQL API, the
//! only place that transition exists) through octocrab, which carries the token, the base URL
//! (GitHub Enterprise, tests) and GitHub's error responses. Bodies follow GitHub's documented
//! shapes; only the fields used are read.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use octocrab::Octocrab;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::ports::{
    CodeHost, MAX_REVIEW_COMMENTS, PullRequest, PullRequestState, PullRequestStatus, ReviewComment,
    ReviewerDirectory,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct GitHubHost {
    client: Octocrab,
    owner: String,
    repo: String,
    default_branch: String,
}

impl std::fmt::Debug for GitHubHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitHubHost({}/{})", self.owner, self.repo)
    }
}

/// GitHub's answer to a call, sorted into what the adapter acts on. The message is GitHub's
/// own; it never holds the token.
enum Failure {
    /// GitHub refused the token (revoked, expired or rotated).
    Unauthorized,
    NotFound,
    Unprocessable(String),
    Unavailable(String),
}

fn classify(error: octocrab::Error) -> Failure {
    match error {
        octocrab::Error::GitHub { source, .. } => match source.status_code.as_u16() {
            401 => Failure::Unauthorized,
            404 => Failure::NotFound,
            422 => Failure::Unprocessable(source.message.clone()),
            status => Failure::Unavailable(format!("GitHub answered {status}: {}", source.message)),
        },
        other => Failure::Unavailable(format!(
            "GitHub did not answer: {}",
            first_line(&other.to_string())
        )),
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

fn unavailable(message: String) -> Error {
    Error::CodeHostUnavailable { message }
}

fn unexpected(failure: Failure, what: &str) -> Error {
    match failure {
        Failure::Unauthorized => Error::CodeHostUnauthorized {
            message: format!("{what}: GitHub answered 401 (the token was refused)"),
        },
        Failure::NotFound => unavailable(format!(
            "{what}: GitHub answered 404 (repository or token scope?)"
        )),
        Failure::Unprocessable(message) => {
            unavailable(format!("{what}: GitHub answered 422: {message}"))
        }
        Failure::Unavailable(message) => unavailable(format!("{what}: {message}")),
    }
}

impl GitHubHost {
    /// `repository` is `owner/name`; `api_url` is `https://api.github.com` or an Enterprise or
    /// test server.
    pub fn new(repository: &str, api_url: &str, default_branch: &str, token: &str) -> Result<Self> {
        let (owner, repo) = repository.split_once('/').ok_or_else(|| {
            Error::Internal(format!(
                "GitHub repository {repository:?} is not owner/name"
            ))
        })?;
        let client = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|error| Error::Internal(format!("GitHub API URL {api_url:?}: {error}")))?
            .personal_token(token.to_owned())
            .set_connect_timeout(Some(CONNECT_TIMEOUT))
            .set_read_timeout(Some(READ_TIMEOUT))
            .build()
            .map_err(|error| Error::Internal(format!("building the GitHub client: {error}")))?;
        Ok(Self {
            client,
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            default_branch: default_branch.to_owned(),
        })
    }

    /// The same client (and token) on another repository.
    pub fn on(&self, owner: &str, repo: &str, default_branch: &str) -> Self {
        Self {
            client: self.client.clone(),
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            default_branch: default_branch.to_owned(),
        }
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.repo)
    }

    async fn get(&self, route: String) -> std::result::Result<Value, Failure> {
        self.client.get(route, None::<&()>).await.map_err(classify)
    }

    async fn send(
        &self,
        method: &str,
        route: String,
        body: Value,
    ) -> std::result::Result<Value, Failure> {
        let result = match method {
            "POST" => self.client.post(route, Some(&body)).await,
            "PUT" => self.client.put(route, Some(&body)).await,
            _ => self.client.patch(route, Some(&body)).await,
        };
        result.map_err(classify)
    }

    async fn branch_sha(&self, branch: &str) -> std::result::Result<Option<String>, Failure> {
        match self
            .get(self.route(&format!("git/ref/heads/{branch}")))
            .await
        {
            Ok(reference) => Ok(reference["object"]["sha"].as_str().map(str::to_owned)),
            Err(Failure::NotFound) => Ok(None),
            Err(failure) => Err(failure),
        }
    }

    async fn open_pull_for(&self, branch: &str) -> Result<Option<Value>> {
        let route = self.route(&format!("pulls?state=open&head={}:{branch}", self.owner));
        let pulls = self
            .get(route)
            .await
            .map_err(|failure| unexpected(failure, "listing pull requests"))?;
        Ok(pulls.as_array().and_then(|pulls| pulls.first()).cloned())
    }

    fn pull_request(value: &Value) -> Result<PullRequest> {
        Ok(PullRequest {
            number: value["number"].as_u64().ok_or_else(|| {
                unavailable("GitHub returned a pull request without a number".into())
            })?,
            url: value["html_url"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

/// One review comment as GitHub's REST API documents it; absent fields read as empty.
fn review_comment(value: &Value) -> Option<ReviewComment> {
    let text = |field: &str| value[field].as_str().map(str::to_owned);
    Some(ReviewComment {
        id: value["id"].as_u64()?,
        in_reply_to_id: value["in_reply_to_id"].as_u64(),
        author: value["user"]["login"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        path: text("path").unwrap_or_default(),
        line: value["line"].as_u64(),
        original_line: value["original_line"].as_u64(),
        side: text("side"),
        diff_hunk: text("diff_hunk").unwrap_or_default(),
        original_commit_id: text("original_commit_id"),
        body: text("body").unwrap_or_default(),
        updated_at: text("updated_at")
            .and_then(|time| chrono::DateTime::parse_from_rfc3339(&time).ok())
            .map(|time| time.with_timezone(&chrono::Utc))
            .unwrap_or_default(),
    })
}

impl ReviewerDirectory for GitHubHost {
    async fn permission(&self, login: &str) -> Result<String> {
        match self
            .get(self.route(&format!("collaborators/{login}/permission")))
            .await
        {
            Ok(answer) => Ok(answer["permission"].as_str().unwrap_or("none").to_owned()),
            // Not a collaborator at all (or hidden from this token): no permission.
            Err(Failure::NotFound) => Ok("none".into()),
            Err(failure) => Err(unexpected(failure, "reading a permission")),
        }
    }

    async fn own_login(&self) -> Result<String> {
        let me = self
            .get("/user".to_owned())
            .await
            .map_err(|failure| unexpected(failure, "reading the token's user"))?;
        me["login"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| unavailable("GitHub returned a user without a login".into()))
    }
}

impl CodeHost for GitHubHost {
    fn scoped(&self, repository: Option<&crate::project::RepositoryLink>) -> Self {
        match repository {
            Some(link) if link.base_branch.is_empty() => {
                self.on(&link.owner, &link.name, &self.default_branch)
            }
            Some(link) => self.on(&link.owner, &link.name, &link.base_branch),
            None => self.clone(),
        }
    }

    async fn pull_request_state(&self, number: u64) -> Result<PullRequestState> {
        let pull = self
            .get(self.route(&format!("pulls/{number}")))
            .await
            .map_err(|failure| unexpected(failure, "reading the pull request"))?;
        let status = if pull["merged"] == json!(true) || pull["merged_at"].is_string() {
            PullRequestStatus::Merged
        } else if pull["state"] == json!("open") {
            PullRequestStatus::Open
        } else {
            PullRequestStatus::Closed
        };
        Ok(PullRequestState {
            status,
            head_ref: pull["head"]["ref"].as_str().unwrap_or_default().to_owned(),
        })
    }

    async fn review_comments(&self, number: u64, review_id: u64) -> Result<Vec<ReviewComment>> {
        let mut comments = Vec::new();
        for page in 1..=MAX_REVIEW_COMMENTS.div_ceil(100) {
            let route = self.route(&format!(
                "pulls/{number}/reviews/{review_id}/comments?per_page=100&page={page}"
            ));
            let answer = self
                .get(route)
                .await
                .map_err(|failure| unexpected(failure, "reading review comments"))?;
            let batch = answer.as_array().cloned().unwrap_or_default();
            comments.extend(batch.iter().filter_map(review_comment));
            if batch.len() < 100 || comments.len() >= MAX_REVIEW_COMMENTS {
                break;
            }
        }
        comments.truncate(MAX_REVIEW_COMMENTS);
        Ok(comments)
    }

    async fn reply_to_review_comment(
        &self,
        number: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<()> {
        self.send(
            "POST",
            self.route(&format!("pulls/{number}/comments/{comment_id}/replies")),
            json!({ "body": body }),
        )
        .await
        .map(|_| ())
        .map_err(|failure| unexpected(failure, "replying on a review thread"))
    }

    async fn request_review(&self, number: u64, logins: &[String]) -> Result<()> {
        if logins.is_empty() {
            return Ok(());
        }
        match self
            .send(
                "POST",
                self.route(&format!("pulls/{number}/requested_reviewers")),
                json!({ "reviewers": logins }),
            )
            .await
        {
            Ok(_) => Ok(()),
            // The author of the pull request cannot be asked: nothing to re-request.
            Err(Failure::Unprocessable(message)) => {
                tracing::info!(%message, "review not re-requested");
                Ok(())
            }
            Err(failure) => Err(unexpected(failure, "re-requesting review")),
        }
    }

    async fn ensure_branch(&self, branch: &str) -> Result<()> {
        if self
            .branch_sha(branch)
            .await
            .map_err(|f| unexpected(f, "reading the branch"))?
            .is_some()
        {
            return Ok(());
        }
        let base = self
            .branch_sha(&self.default_branch)
            .await
            .map_err(|f| unexpected(f, "reading the default branch"))?
            .ok_or_else(|| {
                unavailable(format!(
                    "the default branch {} does not exist",
                    self.default_branch
                ))
            })?;
        let body = json!({ "ref": format!("refs/heads/{branch}"), "sha": base });
        match self.send("POST", self.route("git/refs"), body).await {
            Ok(_) => Ok(()),
            // "Reference already exists": a concurrent request made it.
            Err(Failure::Unprocessable(_)) => Ok(()),
            Err(failure) => Err(unexpected(failure, "creating the branch")),
        }
    }

    async fn ensure_file(
        &self,
        branch: &str,
        path: &str,
        content: &str,
        message: &str,
    ) -> Result<()> {
        let existing = match self
            .get(self.route(&format!("contents/{path}?ref={branch}")))
            .await
        {
            Ok(file) => Some(file),
            Err(Failure::NotFound) => None,
            Err(failure) => return Err(unexpected(failure, "reading the brief")),
        };
        if let Some(file) = &existing {
            let stored: String = file["content"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            if STANDARD.decode(stored).ok().as_deref() == Some(content.as_bytes()) {
                return Ok(());
            }
        }
        let mut body =
            json!({ "message": message, "content": STANDARD.encode(content), "branch": branch });
        if let Some(sha) = existing.as_ref().and_then(|file| file["sha"].as_str()) {
            body["sha"] = json!(sha);
        }
        self.send("PUT", self.route(&format!("contents/{path}")), body)
            .await
            .map(|_| ())
            .map_err(|failure| unexpected(failure, "committing the brief"))
    }

    async fn ensure_draft_pull_request(
        &self,
        branch: &str,
        title: &str,
        body: &str,
    ) -> Result<PullRequest> {
        if let Some(open) = self.open_pull_for(branch).await? {
            return Self::pull_request(&open);
        }
        let request = json!({
            "title": title, "head": branch, "base": self.default_branch, "body": body, "draft": true
        });
        match self.send("POST", self.route("pulls"), request).await {
            Ok(created) => Self::pull_request(&created),
            // "A pull request already exists": a concurrent request opened it.
            Err(Failure::Unprocessable(message)) => match self.open_pull_for(branch).await? {
                Some(open) => Self::pull_request(&open),
                None => Err(unavailable(format!(
                    "opening the pull request: GitHub answered 422: {message}"
                ))),
            },
            Err(failure) => Err(unexpected(failure, "opening the pull request")),
        }
    }

    async fn comment(&self, number: u64, body: &str) -> Result<()> {
        self.send(
            "POST",
            self.route(&format!("issues/{number}/comments")),
            json!({ "body": body }),
        )
        .await
        .map(|_| ())
        .map_err(|failure| unexpected(failure, "commenting on the pull request"))
    }

    async fn mark_ready_for_review(&self, number: u64) -> Result<()> {
        let pull = self
            .get(self.route(&format!("pulls/{number}")))
            .await
            .map_err(|failure| unexpected(failure, "reading the pull request"))?;
        if pull["draft"] == json!(false) {
            return Ok(());
        }
        let node_id = pull["node_id"].as_str().ok_or_else(|| {
            unavailable("GitHub returned a pull request without a node_id".into())
        })?;
        let mutation = json!({
            "query": "mutation($id: ID!) { markPullRequestReadyForReview(input: {pullRequestId: $id}) { pullRequest { isDraft } } }",
            "variables": { "id": node_id }
        });
        let answer: Value = self.client.graphql(&mutation).await.map_err(|error| {
            unexpected(classify(error), "marking the pull request ready for review")
        })?;
        if let Some(errors) = answer.get("errors") {
            return Err(unavailable(format!(
                "marking the pull request ready for review: {errors}"
            )));
        }
        Ok(())
    }
}
