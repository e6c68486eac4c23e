//! GitHub Actions OIDC tokens, the way a CI job proves who it is without a stored secret: the
//! signature checked against GitHub's published keys (cached, fetched again for a key id not
//! seen yet), the issuer and the audience checked, the token's age bounded. Commit, ref, run
//! and attempt are then taken from the token, not from what the job says.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::adapters::https::{HttpsClient, client_for};
use crate::project::Project;

/// GitHub's issuer for Actions tokens; its keys are at `<issuer>/.well-known/jwks`.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// How long fetched keys are used before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 60;

/// What AIPM takes from an Actions token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActionsClaims {
    /// `owner/name`.
    pub repository: String,
    #[serde(default)]
    pub repository_id: Option<String>,
    /// The commit the run tested (for `pull_request` runs GitHub's test-merge commit).
    pub sha: String,
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub run_id: String,
    pub run_attempt: String,
    #[serde(default)]
    pub event_name: Option<String>,
}

/// Why a token was refused; the words are safe to answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OidcRefusal {
    /// Not a JWT, or not RS256.
    Malformed,
    /// Signed by no key GitHub publishes.
    UnknownKey,
    /// The signature, issuer, audience or dates do not hold.
    Invalid(String),
    /// GitHub's keys could not be fetched.
    KeysUnavailable(String),
}

/// Verifies Actions tokens for one audience (the stage's API URL, say).
pub struct ActionsOidc {
    issuer: String,
    keys_url: String,
    audience: String,
    http: HttpsClient,
    keys: Mutex<Option<(JwkSet, Instant)>>,
}

impl std::fmt::Debug for ActionsOidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ActionsOidc({} for {})", self.issuer, self.audience)
    }
}

impl ActionsOidc {
    /// `issuer` is [`GITHUB_ACTIONS_ISSUER`] outside tests.
    pub fn new(issuer: &str, audience: &str) -> std::io::Result<Self> {
        let issuer = issuer.trim_end_matches('/').to_owned();
        Ok(Self {
            keys_url: format!("{issuer}/.well-known/jwks"),
            http: client_for(&issuer)?,
            issuer,
            audience: audience.to_owned(),
            keys: Mutex::new(None),
        })
    }

    async fn fetch_keys(&self) -> Result<JwkSet, OidcRefusal> {
        let unavailable = |what: &str| OidcRefusal::KeysUnavailable(what.to_owned());
        let request = hyper::http::Request::get(&self.keys_url)
            .body(Full::new(Bytes::new()))
            .map_err(|_| unavailable("the keys' URL is not valid"))?;
        let response = tokio::time::timeout(Duration::from_secs(3), self.http.request(request))
            .await
            .map_err(|_| unavailable("GitHub's keys did not come in time"))?
            .map_err(|_| unavailable("GitHub's keys could not be fetched"))?;
        if !response.status().is_success() {
            return Err(unavailable("GitHub did not give its keys"));
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|_| unavailable("GitHub's keys broke off"))?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|_| unavailable("GitHub's keys are unreadable"))
    }

    /// The key `kid` names: from the cache while it is fresh, else fetched (once more for a
    /// key id the cache does not know, as GitHub rotates keys).
    async fn key(&self, kid: &str) -> Result<DecodingKey, OidcRefusal> {
        let mut cached = self.keys.lock().await;
        let fresh = cached
            .as_ref()
            .is_some_and(|(_, fetched)| fetched.elapsed() < KEYS_TTL);
        let known = cached
            .as_ref()
            .is_some_and(|(keys, _)| keys.find(kid).is_some());
        if !fresh || !known {
            *cached = Some((self.fetch_keys().await?, Instant::now()));
        }
        let jwk = cached
            .as_ref()
            .and_then(|(keys, _)| keys.find(kid))
            .ok_or(OidcRefusal::UnknownKey)?;
        DecodingKey::from_jwk(jwk).map_err(|_| OidcRefusal::UnknownKey)
    }

    /// The token's claims, when GitHub signed it for this audience and it is in date.
    pub async fn verify(&self, token: &str) -> Result<ActionsClaims, OidcRefusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| OidcRefusal::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(OidcRefusal::Malformed);
        }
        let kid = header.kid.ok_or(OidcRefusal::UnknownKey)?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        validation.leeway = LEEWAY_SECONDS;
        jsonwebtoken::decode::<ActionsClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|error| OidcRefusal::Invalid(error.kind_name()))
    }
}

/// A short name of what did not hold, without the token.
trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> String {
        use jsonwebtoken::errors::ErrorKind;
        match self.kind() {
            ErrorKind::InvalidSignature => "the signature does not match".into(),
            ErrorKind::ExpiredSignature => "the token has expired".into(),
            ErrorKind::ImmatureSignature => "the token is not valid yet".into(),
            ErrorKind::InvalidAudience => "the token is for another audience".into(),
            ErrorKind::InvalidIssuer => "the token is from another issuer".into(),
            ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim}"),
            _ => "the token is not valid".into(),
        }
    }
}

/// Whether the token's repository is one the project links: by GitHub's id where both know it
/// (it survives renames), else by name.
pub fn repository_is_linked(claims: &ActionsClaims, project: &Project) -> bool {
    let claimed_id = claims
        .repository_id
        .as_deref()
        .and_then(|id| id.parse::<u64>().ok());
    project
        .linked_repositories()
        .any(|link| match (link.repository_id, claimed_id) {
            (Some(linked), Some(claimed)) => linked == claimed,
            _ => link.full_name().eq_ignore_ascii_case(&claims.repository),
        })
}
