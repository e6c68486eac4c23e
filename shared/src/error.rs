//! The one error type of AIPM: every expected failure of every operation is a variant here.
//!
//! How a variant becomes an HTTP response (status, code, details) is decided in one place,
//! `crate::http::error_response`.

use serde::Serialize;

/// A problem with one field of a request, reported back so a client can point at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),

    #[error("unknown field `{field}`")]
    UnknownField { field: String },

    #[error("field `{field}` has the wrong type: {message}")]
    InvalidFieldType { field: String, message: String },

    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),

    #[error("`{value}` is not a valid story id: ids are positive integers")]
    InvalidStoryId { value: String },

    #[error("query parameter `{name}` is invalid: {message}")]
    InvalidQueryParameter { name: &'static str, message: String },

    #[error("the cursor is not one this API issued")]
    InvalidCursor,

    #[error("the request body is {actual} bytes; the limit is {limit}")]
    PayloadTooLarge { actual: usize, limit: usize },

    #[error("story {id} does not exist")]
    StoryNotFound { id: u64 },

    #[error("parent story {id} does not exist")]
    ParentNotFound { id: u64 },

    #[error("{dependency} is unavailable: {message}")]
    DependencyUnavailable {
        dependency: &'static str,
        message: String,
    },

    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
