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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<RepositoryLink>,
    /// Read-only for everyone (the policy's `archived-read-only`).
    #[serde(default)]
    pub archived: bool,
    /// Kept in the same transaction as every membership change, so the last admin cannot go.
    pub admin_count: u32,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// The code repository a project's tasks, branches and pull requests use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepositoryLink {
    pub owner: String,
    pub name: String,
    pub base_branch: String,
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
    fn names_are_trimmed_and_refuse_control_characters() {
        assert_eq!(validate_name("  Shop  ").unwrap(), "Shop");
        assert!(validate_name("   ").is_err());
        assert!(validate_name("a\0b").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
    }
}
