//! GitHub App authentication: the App's own JWT (RS256 with its private key) and installation
//! tokens minted for one repository with only what a code task needs (contents and pull
//! requests, write), cached until shortly before they expire.
//!
//! octocrab's installation client asks for a token with an empty body, which covers every
//! repository and permission of the installation; the scoped request is therefore sent here.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use octocrab::Octocrab;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

use crate::error::{Error, Result};

/// GitHub accepts an App JWT for at most 10 minutes; `iat` is set a minute back because
/// GitHub's clock may be behind ours.
const JWT_BACKDATE: chrono::Duration = chrono::Duration::seconds(60);
const JWT_LIFETIME: chrono::Duration = chrono::Duration::minutes(9);

/// A token with less than this left is minted again before use: a push or a clone started
/// with it must not outlive it.
pub const TOKEN_MARGIN: chrono::Duration = chrono::Duration::minutes(10);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The permissions every minted token carries, and nothing else (no workflows, no
/// administration).
pub const TOKEN_PERMISSIONS: [(&str, &str); 2] =
    [("contents", "write"), ("pull_requests", "write")];

/// The App's private key, parsed once; never printed.
pub struct AppKey(EncodingKey);

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(…)")
    }
}

impl AppKey {
    /// The PEM GitHub hands out (PKCS#1, `BEGIN RSA PRIVATE KEY`) or PKCS#8.
    pub fn from_pem(pem: &str) -> Result<Self> {
        EncodingKey::from_rsa_pem(pem.trim().as_bytes())
            .map(Self)
            // The parser's message could quote the key; say only what is wrong.
            .map_err(|_| Error::Internal("the GitHub App private key is not an RSA PEM key".into()))
    }
}

#[derive(Serialize)]
struct AppClaims {
    iat: i64,
    exp: i64,
    iss: String,
}

/// The JWT the App authenticates with at `now`.
pub fn app_jwt(app_id: u64, key: &AppKey, now: DateTime<Utc>) -> Result<String> {
    let claims = AppClaims {
        iat: (now - JWT_BACKDATE).timestamp(),
        exp: (now + JWT_LIFETIME).timestamp(),
        iss: app_id.to_string(),
    };
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key.0)
        .map_err(|error| Error::Internal(format!("signing the GitHub App JWT: {error}")))
}

/// An installation token for one repository; its value is never printed.
#[derive(Clone, Deserialize)]
pub struct ScopedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// What the token covers, as GitHub names it now: for a task's token its one repository,
    /// under its current name after a rename or a transfer.
    #[serde(default)]
    pub repositories: Vec<CoveredRepository>,
}

/// A repository an installation token covers.
#[derive(Debug, Clone, Deserialize)]
pub struct CoveredRepository {
    pub id: u64,
    pub full_name: String,
}

impl ScopedToken {
    /// `owner/name` of the repository with GitHub's id `id`, as GitHub names it now.
    pub fn current_name(&self, id: u64) -> Option<&str> {
        self.repositories
            .iter()
            .find(|repository| repository.id == id)
            .map(|repository| repository.full_name.as_str())
    }
}

impl std::fmt::Debug for ScopedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScopedToken(expires {})", self.expires_at)
    }
}

impl ScopedToken {
    /// Whether it can still be handed out at `now` for work that may take [`TOKEN_MARGIN`].
    pub fn fresh_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at - now > TOKEN_MARGIN
    }
}

pub use crate::ports::InstallationRepository;
use crate::ports::{ReachableRepositories, ReachableRepository};

/// The App: its id, key and GitHub's API, and the tokens minted so far per repository.
pub struct GitHubApp {
    app_id: u64,
    key: AppKey,
    api_url: String,
    tokens: Mutex<HashMap<InstallationRepository, ScopedToken>>,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitHubApp({})", self.app_id)
    }
}

impl GitHubApp {
    pub fn new(app_id: u64, key: AppKey, api_url: &str) -> Self {
        Self {
            app_id,
            key,
            api_url: api_url.to_owned(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// A client that authenticates as the App itself, with a JWT made now.
    fn as_app(&self) -> Result<Octocrab> {
        self.client(app_jwt(self.app_id, &self.key, Utc::now())?)
    }

    /// A client that sends `bearer` (the App's JWT or an installation token).
    fn client(&self, bearer: String) -> Result<Octocrab> {
        Octocrab::builder()
            .base_uri(self.api_url.as_str())
            .map_err(|error| {
                Error::Internal(format!("GitHub API URL {:?}: {error}", self.api_url))
            })?
            .personal_token(bearer)
            .set_connect_timeout(Some(CONNECT_TIMEOUT))
            .set_read_timeout(Some(READ_TIMEOUT))
            .build()
            .map_err(|error| Error::Internal(format!("building the GitHub App client: {error}")))
    }

    /// A token for `target` that has at least [`TOKEN_MARGIN`] left: the cached one, or a new
    /// one when it is missing, about to expire, or `refresh` is set (GitHub refused it).
    pub async fn token(
        &self,
        target: InstallationRepository,
        refresh: bool,
    ) -> Result<ScopedToken> {
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = tokens.get(&target)
            && !refresh
            && token.fresh_at(Utc::now())
        {
            return Ok(token.clone());
        }
        let token = self.mint(target).await?;
        tokens.insert(target, token.clone());
        Ok(token)
    }

    /// `POST /app/installations/{id}/access_tokens` for exactly one repository id and
    /// [`TOKEN_PERMISSIONS`].
    async fn mint(&self, target: InstallationRepository) -> Result<ScopedToken> {
        let permissions: serde_json::Map<String, serde_json::Value> = TOKEN_PERMISSIONS
            .iter()
            .map(|(name, level)| ((*name).to_owned(), json!(level)))
            .collect();
        let body = json!({
            "repository_ids": [target.repository_id],
            "permissions": permissions,
        });
        let route = format!(
            "/app/installations/{}/access_tokens",
            target.installation_id
        );
        let token: ScopedToken = self
            .as_app()?
            .post(route, Some(&body))
            .await
            .map_err(|error| refused("minting an installation token", error))?;
        tracing::info!(
            installation = target.installation_id,
            repository = target.repository_id,
            expires_at = %token.expires_at,
            "installation token minted"
        );
        Ok(token)
    }

    /// Where `owner/name` is reached, or None when the App is not installed on it: the
    /// installation, then the repository's id from a token asked for by name that can only
    /// read metadata (GitHub lists the repositories a token covers when they are named).
    pub async fn resolve(&self, owner: &str, name: &str) -> Result<Option<InstallationRepository>> {
        #[derive(Deserialize)]
        struct Covered {
            #[serde(default)]
            repositories: Vec<CoveredRepository>,
        }
        let Some(installation_id) = self.installation_of(owner, name).await? else {
            return Ok(None);
        };
        let body = json!({"repositories": [name], "permissions": {"metadata": "read"}});
        let route = format!("/app/installations/{installation_id}/access_tokens");
        let covered: Covered = match self.as_app()?.post(route, Some(&body)).await {
            Ok(covered) => covered,
            // The installation does not include this repository (selected repositories).
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 422 => {
                return Ok(None);
            }
            Err(error) => return Err(refused("finding the repository's id", error)),
        };
        Ok(covered
            .repositories
            .iter()
            .find(|repository| {
                (repository.full_name.rsplit('/').next())
                    .is_some_and(|covered| covered.eq_ignore_ascii_case(name))
            })
            .map(|repository| InstallationRepository {
                installation_id,
                repository_id: repository.id,
            }))
    }

    /// Every repository the App's installations reach, sorted by name, at most `limit`, and
    /// whether more were left out: `GET /app/installations`, then for each installation a
    /// token that can only read metadata and `GET /installation/repositories`, page by page.
    pub async fn reachable_repositories(
        &self,
        limit: usize,
    ) -> Result<(Vec<ReachableRepository>, bool)> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        #[derive(Deserialize)]
        struct Page {
            total_count: usize,
            repositories: Vec<Listed>,
        }
        #[derive(Deserialize)]
        struct Listed {
            id: u64,
            name: String,
            owner: Owner,
            #[serde(default)]
            default_branch: Option<String>,
            #[serde(default)]
            private: bool,
        }
        #[derive(Deserialize)]
        struct Owner {
            login: String,
        }
        let app = self.as_app()?;
        let mut installations = Vec::new();
        for page in 1..=MAX_PAGES {
            let batch: Vec<Installation> = app
                .get("/app/installations", Some(&paging(page)))
                .await
                .map_err(|error| refused("listing the App's installations", error))?;
            let last = batch.len() < PAGE_SIZE;
            installations.extend(batch);
            if last {
                break;
            }
        }
        let mut found = Vec::new();
        let mut more = false;
        'installations: for installation in installations {
            let route = format!("/app/installations/{}/access_tokens", installation.id);
            let body = json!({"permissions": {"metadata": "read"}});
            let token: ScopedToken = app
                .post(route, Some(&body))
                .await
                .map_err(|error| refused("reading an installation's repositories", error))?;
            let installation_client = self.client(token.token)?;
            for page in 1..=MAX_PAGES {
                let listed: Page = installation_client
                    .get("/installation/repositories", Some(&paging(page)))
                    .await
                    .map_err(|error| refused("listing an installation's repositories", error))?;
                let last =
                    listed.repositories.len() < PAGE_SIZE || page * PAGE_SIZE >= listed.total_count;
                for repository in listed.repositories {
                    if found.len() == limit {
                        more = true;
                        break 'installations;
                    }
                    found.push(ReachableRepository {
                        owner: repository.owner.login,
                        name: repository.name,
                        repository_id: repository.id,
                        installation_id: installation.id,
                        default_branch: repository.default_branch.unwrap_or_else(|| "main".into()),
                        private: repository.private,
                    });
                }
                if last {
                    break;
                }
            }
        }
        found.sort_by_cached_key(|repository| {
            format!("{}/{}", repository.owner, repository.name).to_ascii_lowercase()
        });
        Ok((found, more))
    }

    /// The login the App acts as on GitHub, `<slug>[bot]`: `GET /app`.
    pub async fn bot_login(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct App {
            slug: String,
        }
        let app: App = self
            .as_app()?
            .get("/app", None::<&()>)
            .await
            .map_err(|error| refused("reading the App", error))?;
        Ok(format!("{}[bot]", app.slug))
    }

    /// The installation of the App on `owner/name`'s account, when the App can reach it:
    /// `GET /repos/{owner}/{repo}/installation`.
    pub async fn installation_of(&self, owner: &str, name: &str) -> Result<Option<u64>> {
        #[derive(Deserialize)]
        struct Installation {
            id: u64,
        }
        let route = format!("/repos/{owner}/{name}/installation");
        match self.as_app()?.get::<Installation, _, ()>(route, None).await {
            Ok(installation) => Ok(Some(installation.id)),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 404 => {
                Ok(None)
            }
            Err(error) => Err(refused("finding the App's installation", error)),
        }
    }
}

impl crate::ports::RepositoryReach for GitHubApp {
    async fn reach(&self, owner: &str, name: &str) -> Result<Option<InstallationRepository>> {
        self.resolve(owner, name).await
    }

    async fn reachable(&self, limit: usize) -> Result<Option<ReachableRepositories>> {
        self.reachable_repositories(limit).await.map(Some)
    }
}

/// GitHub's list pages: the most it gives per page, and how many pages are read at most.
const PAGE_SIZE: usize = 100;
const MAX_PAGES: usize = 10;

fn paging(page: usize) -> [(&'static str, usize); 2] {
    [("per_page", PAGE_SIZE), ("page", page)]
}

/// GitHub's refusal, without anything it echoed back that could hold a credential.
fn refused(what: &str, error: octocrab::Error) -> Error {
    match error {
        octocrab::Error::GitHub { source, .. } if source.status_code.as_u16() == 401 => {
            Error::CodeHostUnauthorized {
                message: format!("{what}: GitHub refused the App's JWT (app id or key?)"),
            }
        }
        octocrab::Error::GitHub { source, .. } => Error::CodeHostUnavailable {
            message: format!(
                "{what}: GitHub answered {}: {}",
                source.status_code.as_u16(),
                source.message
            ),
        },
        other => Error::CodeHostUnavailable {
            message: format!(
                "{what}: GitHub did not answer: {}",
                other.to_string().lines().next().unwrap_or_default()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_fresh_only_with_the_margin_left() {
        let now = Utc::now();
        let token = |minutes| ScopedToken {
            token: "ghs_secret".into(),
            expires_at: now + chrono::Duration::minutes(minutes),
            repositories: Vec::new(),
        };
        assert!(token(60).fresh_at(now));
        assert!(!token(10).fresh_at(now));
        assert!(!token(-1).fresh_at(now));
        assert!(!format!("{:?}", token(60)).contains("ghs_secret"));
    }

    #[test]
    fn a_key_that_is_not_rsa_pem_is_refused_without_echoing_it() {
        let error = AppKey::from_pem("-----BEGIN RSA PRIVATE KEY-----\nnot-a-key\n").unwrap_err();
        assert!(!error.to_string().contains("not-a-key"));
    }
}
