//! Projects and their people: the unit of ownership, its members and roles, and the audit log
//! of who changed membership and who was refused.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::authz::Role;
use crate::error::FieldError;

/// The project today's single-project data belongs to; the old `/stories/…` routes act on it.
pub const DEFAULT_PROJECT_ID: &str = "default";

/// A project as stored and, without its internal counters, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Immutable; every item of the project carries it. Keys and names are display data.
    pub id: String,
    /// 2–10 capital letters; stories show as `KEY-n`. A renamed key keeps resolving.
    pub key: String,
    pub name: String,
    /// The project's place in the story id space (see [`StoryNumbering`]); the default project
    /// is 0, so today's story ids and counter stay what they are.
    #[serde(default)]
    pub ordinal: u32,
    /// The default target of Generate code & PR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<RepositoryLink>,
    /// The project's further repositories, which a task may target by name. All of a project's
    /// repositories belong to one GitHub account, so the App's events for that account find it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_repositories: Vec<RepositoryLink>,
    /// Read-only for everyone (the policy's `archived-read-only`).
    #[serde(default)]
    pub archived: bool,
    /// A merge (or anyone) moves a story to Done only when every test CI reports on passes at
    /// the story's commit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub done_needs_ci_evidence: bool,
    /// Work-in-progress limits of the board's columns, by status; the board warns past one.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub wip_limits: std::collections::BTreeMap<String, u32>,
    /// Kept in the same transaction as every membership change, so the last admin cannot go.
    pub admin_count: u32,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// How many repositories one project links, its default target included.
pub const MAX_LINKED_REPOSITORIES: usize = 10;

impl Project {
    /// Every repository the project links, the default target first.
    pub fn linked_repositories(&self) -> impl Iterator<Item = &RepositoryLink> {
        self.repository.iter().chain(&self.other_repositories)
    }

    /// The linked repository called `full_name` (any case), or None.
    pub fn linked_repository(&self, full_name: &str) -> Option<&RepositoryLink> {
        self.linked_repositories()
            .find(|link| link.full_name().eq_ignore_ascii_case(full_name))
    }

    /// The project with each link `next` changes replaced, and what `next` said of each; None
    /// when it changes none.
    pub fn with_links_changed(
        &self,
        next: impl Fn(&RepositoryLink) -> Option<(RepositoryLink, String)>,
    ) -> Option<(Project, Vec<(RepositoryLink, String)>)> {
        let mut changed = Vec::new();
        let mut project = self.clone();
        let links = project
            .repository
            .iter_mut()
            .chain(project.other_repositories.iter_mut());
        for link in links {
            if let Some((replacement, said)) = next(link) {
                *link = replacement.clone();
                changed.push((replacement, said));
            }
        }
        (!changed.is_empty()).then_some((project, changed))
    }
}

/// The code repository a project's tasks, branches and pull requests use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryLink {
    pub owner: String,
    pub name: String,
    pub base_branch: String,
    /// With the GitHub App: the installation that reaches the repository and GitHub's numeric
    /// id of it, which survive renames and transfers; found when the link is first used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_id: Option<u64>,
    /// The GitHub App lost access (removed from the repository, suspended or uninstalled);
    /// Generate code & PR is refused until it is back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disconnected: bool,
}

impl RepositoryLink {
    pub fn new(owner: &str, name: &str, base_branch: &str) -> Self {
        Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
            base_branch: base_branch.to_owned(),
            installation_id: None,
            repository_id: None,
            disconnected: false,
        }
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// One person's role in one project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub project_id: String,
    /// The person's Cognito `sub`.
    pub member_sub: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub added_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<String>,
}

/// How long an invitation can be accepted.
pub const INVITATION_DAYS: i64 = 7;

/// An invitation to join a project with a role, addressed to an email. Whoever holds its link
/// (and, when their sign-in carries a verified email, has that email) may accept it once; the
/// link's secret is stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub project_id: String,
    pub invitation_id: String,
    /// Lower-cased.
    pub email: String,
    pub role: Role,
    /// SHA-256 of the link's secret, hex.
    pub secret_hash: String,
    pub status: InvitationStatus,
    pub invited_by: String,
    pub invited_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// How often the link was issued (1, then one more per re-send).
    pub sent_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
}

impl Invitation {
    /// What people see: a pending invitation past its date is expired.
    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        match self.status {
            InvitationStatus::Pending if self.expires_at <= now => "expired",
            InvitationStatus::Pending => "pending",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Revoked => "revoked",
        }
    }
}

/// The secret of an invitation link and its stored hash.
pub fn invitation_secret() -> (String, String) {
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let hash = secret_hash(&secret);
    (secret, hash)
}

pub fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// The token a link carries: project, invitation and secret, so accepting needs one read.
pub fn invitation_token(invitation: &Invitation, secret: &str) -> String {
    format!(
        "{}.{}.{secret}",
        invitation.project_id, invitation.invitation_id
    )
}

/// The parts of a token, if it has the shape of one.
pub fn parse_invitation_token(token: &str) -> Option<(&str, &str, &str)> {
    let mut parts = token.split('.');
    let (project, invitation, secret) = (parts.next()?, parts.next()?, parts.next()?);
    let plain = |text: &str| {
        (1..=64).contains(&text.len()) && text.bytes().all(|byte| byte.is_ascii_alphanumeric())
    };
    (parts.next().is_none() && plain(project) && plain(invitation) && plain(secret))
        .then_some((project, invitation, secret))
}

/// An email address as invitations take it: trimmed, lower-cased, one `@` with text on both
/// sides and a dot in the domain, at most 254 characters, no spaces or control characters.
pub fn validate_email(email: &str) -> Result<String, FieldError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email)
    } else {
        Err(FieldError::new(
            "email",
            "INVALID_EMAIL",
            "an email address such as ana@example.com",
        ))
    }
}

/// One line of a project's audit log: a membership change, a denial, or a deployment admin
/// acting where they are not a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub project_id: String,
    pub at: DateTime<Utc>,
    /// Who acted (a `sub`) and how they were shown then.
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// The policy action (`manageMembers`, `generateCode`, …).
    pub action: String,
    /// `allow` or `deny`.
    pub decision: String,
    /// The `@id` of the policy that decided.
    pub policy: String,
    /// The actor's standing (`viewer`, `non-member`, `deployment-admin`, …).
    pub standing: String,
    /// What was acted on (the member's `sub`, the request path), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What changed, e.g. `contributor -> viewer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

/// Story ids are global, so every table and index keyed by a story id keeps working, and
/// numbered per project: a project's `n`-th story has the id `ordinal × 2³² + n` and shows as
/// `KEY-n`. Which project a story belongs to is therefore known from its id alone, without a
/// read, and an id from another project is refused before anything is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoryNumbering {
    pub ordinal: u32,
}

impl StoryNumbering {
    const SHIFT: u32 = 32;

    pub fn of(project: &Project) -> Self {
        Self {
            ordinal: project.ordinal,
        }
    }

    /// The numbering a story id belongs to.
    pub fn of_story(id: u64) -> Self {
        Self {
            // The high 32 bits are the ordinal by construction.
            ordinal: (id >> Self::SHIFT) as u32,
        }
    }

    /// The id under which the project's story counter is kept (no story has number 0).
    pub fn counter_id(self) -> u64 {
        u64::from(self.ordinal) << Self::SHIFT
    }

    /// The id of the project's story number `number`.
    pub fn story_id(self, number: u32) -> u64 {
        self.counter_id() | u64::from(number)
    }

    /// The smallest and largest story id the project can hold.
    pub fn id_range(self) -> (u64, u64) {
        (
            self.counter_id() + 1,
            self.counter_id() | u64::from(u32::MAX),
        )
    }

    /// Whether the story id belongs to this project.
    pub fn holds(self, id: u64) -> bool {
        let (low, high) = self.id_range();
        (low..=high).contains(&id)
    }

    /// The story's number within its project (`n` in `KEY-n`).
    pub fn number(id: u64) -> u32 {
        // The low 32 bits are the number by construction.
        (id & u64::from(u32::MAX)) as u32
    }
}

/// How a story shows to people: `KEY-n`.
pub fn story_key(project_key: &str, id: u64) -> String {
    format!("{project_key}-{}", StoryNumbering::number(id))
}

/// Whether `key` is a project key: 2–10 characters, capital letters A–Z only.
pub fn validate_key(key: &str) -> Result<(), FieldError> {
    let length_ok = (2..=10).contains(&key.len());
    if length_ok && key.bytes().all(|byte| byte.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(FieldError::new(
            "key",
            "INVALID_PROJECT_KEY",
            "a project key is 2 to 10 capital letters (A-Z), such as SHOP",
        ))
    }
}

/// A project's display name: 1–100 characters after trimming, no control characters.
pub fn validate_name(name: &str) -> Result<String, FieldError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 {
        return Err(FieldError::new(
            "name",
            "INVALID_LENGTH",
            "a project name is 1 to 100 characters",
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "CONTROL_CHARACTER",
            "a project name cannot hold control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_two_to_ten_capital_letters() {
        for good in ["AB", "SHOP", "ABCDEFGHIJ"] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in ["A", "ABCDEFGHIJK", "Shop", "SH0P", "SH-P", "", "ÄB"] {
            assert!(validate_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn story_ids_are_numbered_per_project_and_never_overlap() {
        let default = StoryNumbering { ordinal: 0 };
        let second = StoryNumbering { ordinal: 1 };
        assert_eq!(default.counter_id(), 0);
        assert_eq!(default.story_id(7), 7, "today's ids stay what they are");
        assert_eq!(second.story_id(7), (1 << 32) + 7);
        assert_eq!(StoryNumbering::number(second.story_id(7)), 7);
        assert!(default.holds(7) && !second.holds(7));
        assert!(second.holds(second.story_id(1)) && !default.holds(second.story_id(1)));
        assert!(
            !second.holds(second.counter_id()),
            "the counter is not a story"
        );
        assert_eq!(story_key("SHOP", second.story_id(42)), "SHOP-42");
    }

    #[test]
    fn invitation_tokens_round_trip_and_emails_are_normalised() {
        let (secret, hash) = invitation_secret();
        assert_eq!(secret.len(), 64);
        assert_eq!(secret_hash(&secret), hash);
        assert_ne!(invitation_secret().0, secret);
        assert_eq!(
            parse_invitation_token(&format!("p1.i2.{secret}")),
            Some(("p1", "i2", secret.as_str()))
        );
        for bad in ["", "a.b", "a.b.c.d", "a..c", "a.b.c d", "../b.c"] {
            assert_eq!(parse_invitation_token(bad), None, "{bad}");
        }
        assert_eq!(
            validate_email("  Ana@Example.COM ").unwrap(),
            "ana@example.com"
        );
        for bad in [
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "a@b@c.de",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_trimmed_and_refuse_control_characters() {
        assert_eq!(validate_name("  Shop  ").unwrap(), "Shop");
        assert!(validate_name("   ").is_err());
        assert!(validate_name("a\0b").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
    }
}
