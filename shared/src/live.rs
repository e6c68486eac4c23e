//! Live updates: who is connected to which project's channel, the one-use tickets that let a
//! browser open it, and the small notice each recorded change becomes on the wire. The channel
//! carries notices, never data: a page that hears of a change reads it through the API, where
//! every read is authorized as usual.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::history::{HistoryAction, HistoryEntry};

/// How long a ticket may wait before the socket is opened with it.
pub const TICKET_SECONDS: i64 = 60;

/// API Gateway ends a WebSocket connection after two hours; a record of one is kept a little
/// longer, in case its `$disconnect` never arrives (TTL removes it then).
pub const CONNECTION_SECONDS: i64 = 2 * 60 * 60 + 5 * 60;

/// A ticket as the browser holds it: 32 random bytes, hex. Only its hash is stored, so a
/// reader of the table cannot open a channel with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSecret(String);

impl TicketSecret {
    pub fn mint() -> Self {
        let first = uuid::Uuid::new_v4().simple().to_string();
        let second = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("{first}{second}"))
    }

    /// What a browser sent, if it has a ticket's shape (64 lowercase hex digits).
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored form.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// Who a ticket (and then a connection) is for: one person on one project, as the gate
/// admitted them when the ticket was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listener {
    pub project_id: String,
    pub project_ordinal: u32,
    pub sub: String,
    #[serde(default)]
    pub deployment_admin: bool,
}

/// A ticket waiting to be redeemed by `$connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTicket {
    pub digest: String,
    pub listener: Listener,
    pub expires_at: DateTime<Utc>,
}

impl LiveTicket {
    pub fn issue(listener: Listener, now: DateTime<Utc>) -> (TicketSecret, Self) {
        let secret = TicketSecret::mint();
        let ticket = Self {
            digest: secret.digest(),
            listener,
            expires_at: now + Duration::seconds(TICKET_SECONDS),
        };
        (secret, ticket)
    }
}

/// An open socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConnection {
    /// API Gateway's connection id.
    pub id: String,
    pub listener: Listener,
    pub expires_at: DateTime<Utc>,
}

/// What one recorded change becomes on the wire: enough for a page to know what to re-read and
/// to say who changed it, small enough for any frame (API Gateway's limit is 32 KB). The
/// fields' values are left out on purpose: the page reads them through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotice {
    #[serde(rename = "type")]
    pub kind: NoticeKind,
    /// The history entry's id: a page that hears one twice acts once.
    pub entry: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story_id: Option<u64>,
    pub action: HistoryAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The changed fields' names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The author's display name and `sub` (a page ignores its own person's changes it made).
    pub by: String,
    pub by_sub: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NoticeKind {
    Change,
}

impl ChangeNotice {
    pub fn of(entry: &HistoryEntry) -> Self {
        Self {
            kind: NoticeKind::Change,
            entry: entry.id.clone(),
            story_id: entry.story_id,
            action: entry.action,
            version: entry.version,
            fields: entry.changes.iter().map(|c| c.field.clone()).collect(),
            by: entry.author.name.clone(),
            by_sub: entry.author.sub.clone(),
            at: entry.at,
        }
    }

    /// A membership changed: whoever lost access must lose the channel too.
    pub fn changes_access(entry: &HistoryEntry) -> bool {
        matches!(
            entry.action,
            HistoryAction::MemberChanged | HistoryAction::MemberRemoved
        )
    }

    /// One frame of notices, oldest first: `{"type":"changes","notices":[…]}`.
    pub fn frame(notices: &[ChangeNotice]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "type": "changes", "notices": notices }))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Author, FieldChange};

    #[test]
    fn a_ticket_is_64_hex_digits_stored_only_as_its_hash() {
        let secret = TicketSecret::mint();
        assert_eq!(secret.as_str().len(), 64);
        assert_eq!(TicketSecret::parse(secret.as_str()), Some(secret.clone()));
        assert_ne!(secret.digest(), secret.as_str());
        assert_ne!(TicketSecret::mint(), secret);
        assert_eq!(TicketSecret::parse("short"), None);
        assert_eq!(TicketSecret::parse(&"G".repeat(64)), None);
    }

    #[test]
    fn a_notice_names_fields_but_carries_no_values() {
        let entry = HistoryEntry::new(
            3,
            Some(42),
            Utc::now(),
            Author::new("s-1", Some("Ada")),
            HistoryAction::StoryEdited,
        )
        .with_changes(vec![FieldChange {
            field: "title".into(),
            before: "secret before".into(),
            after: "secret after".into(),
        }]);
        let notice = ChangeNotice::of(&entry);
        let text = String::from_utf8(ChangeNotice::frame(std::slice::from_ref(&notice))).unwrap();
        assert!(text.contains("\"fields\":[\"title\"]"), "{text}");
        assert!(text.contains("\"type\":\"change\""), "{text}");
        assert!(text.contains("\"type\":\"changes\""), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(notice.by, "Ada");
    }
}
