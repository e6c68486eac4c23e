//! Listing stories a page at a time: the query a client may ask, and the opaque cursor.
//!
//! A cursor is the key of the last story a page covered, base64url-encoded so clients treat it as
//! a token. Pages are bounded by item count and by bytes, so no listing ever approaches Lambda's
//! 6 MB response cap whatever the table holds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::StoryStatus;
use crate::validation::parse_story_id;

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 500;
/// Serialized stories per page stop being added past this many bytes (well under 6 MB).
pub const PAGE_BYTE_BUDGET: usize = 1024 * 1024;

/// Where the next page starts: the key of the last story the previous page covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cursor {
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    /// Set in a listing of a project's root stories: the project's ordinal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_of: Option<u32>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        // Serializing two integers cannot fail; an empty token would only restart the listing.
        let json = serde_json::to_vec(self).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(token: &str) -> Result<Self> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| Error::InvalidCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| Error::InvalidCursor)
    }
}

/// One request for a page of stories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryListQuery {
    /// The project listed; its stories only.
    pub numbering: crate::project::StoryNumbering,
    pub parent_id: Option<u64>,
    /// Only the stories without a parent (`parentId=root`): the tree's first level.
    pub roots: bool,
    pub status: Option<StoryStatus>,
    pub limit: usize,
    pub after: Option<Cursor>,
}

impl Default for StoryListQuery {
    fn default() -> Self {
        Self {
            numbering: crate::project::StoryNumbering::default(),
            parent_id: None,
            roots: false,
            status: None,
            limit: DEFAULT_PAGE_SIZE,
            after: None,
        }
    }
}

impl StoryListQuery {
    /// The cursor of this listing that resumes after story `id`.
    pub fn cursor_after(&self, id: u64) -> Cursor {
        Cursor {
            id,
            parent_id: self.parent_id,
            root_of: self.roots.then_some(self.numbering.ordinal),
        }
    }

    /// Reads `parentId` (a story id, or `root`), `status`, `limit` and `cursor` from the query
    /// string.
    pub fn parse<'a>(param: impl Fn(&str) -> Option<&'a str>) -> Result<Self> {
        let roots = param("parentId") == Some("root");
        let parent_id = match param("parentId") {
            None | Some("") | Some("root") => None,
            Some(raw) => Some(
                parse_story_id(raw).map_err(|_| Error::InvalidQueryParameter {
                    name: "parentId",
                    message: "must be a story id (a positive integer) or root".into(),
                })?,
            ),
        };
        let status = match param("status") {
            None | Some("") => None,
            Some(raw) => {
                Some(
                    StoryStatus::parse(raw).ok_or_else(|| Error::InvalidQueryParameter {
                        name: "status",
                        message: format!(
                            "must be one of {}",
                            StoryStatus::ALL.map(StoryStatus::as_str).join(", ")
                        ),
                    })?,
                )
            }
        };
        let limit = match param("limit") {
            None | Some("") => DEFAULT_PAGE_SIZE,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|limit| (1..=MAX_PAGE_SIZE).contains(limit))
                .ok_or_else(|| Error::InvalidQueryParameter {
                    name: "limit",
                    message: format!("must be an integer from 1 to {MAX_PAGE_SIZE}"),
                })?,
        };
        let after = match param("cursor") {
            None | Some("") => None,
            Some(token) => Some(Cursor::decode(token)?),
        };
        if let Some(cursor) = after
            && (cursor.parent_id != parent_id || cursor.root_of.is_some() != roots)
        {
            // A cursor only makes sense for the listing that issued it.
            return Err(Error::InvalidCursor);
        }
        Ok(Self {
            numbering: crate::project::StoryNumbering::default(),
            parent_id,
            roots,
            status,
            limit,
            after,
        })
    }
}

/// A page of results and where the next one starts, if anywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<StoryListQuery> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        StoryListQuery::parse(|name| map.get(name).copied())
    }

    #[test]
    fn defaults_apply_when_nothing_is_asked() {
        assert_eq!(parse(&[]).unwrap(), StoryListQuery::default());
    }

    #[test]
    fn cursor_round_trips_and_is_url_safe() {
        let cursor = Cursor {
            id: 42,
            parent_id: Some(7),
            root_of: None,
        };
        let token = cursor.encode();
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(Cursor::decode(&token).unwrap(), cursor);
    }

    #[test]
    fn garbage_and_foreign_cursors_are_rejected() {
        assert!(matches!(Cursor::decode("%%%"), Err(Error::InvalidCursor)));
        assert!(matches!(
            Cursor::decode(&URL_SAFE_NO_PAD.encode(b"{\"id\":1,\"x\":2}")),
            Err(Error::InvalidCursor)
        ));
        let child_cursor = Cursor {
            id: 3,
            parent_id: Some(1),
            root_of: None,
        }
        .encode();
        assert!(matches!(
            parse(&[("cursor", &child_cursor)]),
            Err(Error::InvalidCursor)
        ));
        assert!(parse(&[("cursor", &child_cursor), ("parentId", "1")]).is_ok());
    }

    #[test]
    fn limit_status_and_parent_are_checked() {
        let query = parse(&[
            ("limit", "500"),
            ("status", "In Progress"),
            ("parentId", "3"),
        ])
        .unwrap();
        assert_eq!(query.limit, 500);
        assert_eq!(query.status, Some(StoryStatus::InProgress));
        assert_eq!(query.parent_id, Some(3));
        for (name, value) in [
            ("limit", "0"),
            ("limit", "501"),
            ("limit", "ten"),
            ("status", "Finished"),
            ("parentId", "x"),
        ] {
            match parse(&[(name, value)]) {
                Err(Error::InvalidQueryParameter { name: got, .. }) => assert_eq!(got, name),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
    }
}
