//! The one error type of AIPM: every expected failure of every operation is a variant here.
//!
//! How a variant becomes an HTTP response (status, code, details) is decided in one place,
//! `crate::http::error_response`.

use serde::Serialize;

use crate::model::StorySummary;
use crate::rules::workflow::TransitionRefusal;

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

    #[error("`{value}` is not a valid acceptance test id")]
    InvalidTestId { value: String },

    #[error("If-Match `{value}` is not a story version such as \"3\"")]
    InvalidIfMatch { value: String },

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

    #[error("acceptance test {id} of story {story_id} does not exist")]
    TestNotFound { story_id: u64, id: String },

    #[error("story {story_id} already has {limit} acceptance tests, the most a story can have")]
    TooManyTests { story_id: u64, limit: u32 },

    #[error("the version you sent is stale; the current version is {current}")]
    VersionMismatch { current: u64 },

    #[error(
        "story {parent_id} is this story or one of its descendants; a story cannot be its own ancestor"
    )]
    ParentCycle { parent_id: u64 },

    #[error("a story cannot be linked to itself")]
    LinkToSelf { id: u64 },

    #[error("the link would close a loop of stories each waiting for the next: {}", cycle.join(" → "))]
    LinkCycle { ids: Vec<u64>, cycle: Vec<String> },

    #[error(
        "{other_key} is this story's {relation}; a blocking link within one branch of the tree would never clear, since a parent is Done only when its children are"
    )]
    LinkToLineage {
        other: u64,
        other_key: String,
        relation: crate::rules::dependencies::Lineage,
    },

    #[error("story {id} does not exist in this project")]
    LinkTargetNotFound { id: u64 },

    #[error("too many links: at most {limit}")]
    TooManyLinks { limit: usize },

    #[error("`{name}` is not a file a story takes: allowed are {}", crate::rules::documents::FileKind::allowed_extensions().join(", "))]
    DocumentTypeNotAllowed { name: String },

    #[error("the file is larger than a story takes ({limit} bytes at most) or empty")]
    DocumentTooLarge { limit: u64 },

    #[error("too many reference {kind}: at most {limit}")]
    TooManyDocuments { kind: &'static str, limit: usize },

    #[error("file {id} was never uploaded, or its upload expired; upload it again")]
    UploadNotFound { id: String },

    #[error("`{name}` is not what it says it is ({reason}); it was discarded")]
    UploadContentMismatch {
        id: String,
        name: String,
        reason: &'static str,
    },

    #[error("the story has no file {id}")]
    DocumentNotFound { id: String },

    #[error("story {id} is not in the trash (never deleted, restored already, or purged)")]
    NotInTrash { id: u64 },

    #[error(
        "the story waits for {}, not Done yet; finish it first, or send overrideBlockers with a reason",
        blockers.iter().map(|b| b.key.as_str()).collect::<Vec<_>>().join(", ")
    )]
    StoryBlocked {
        blockers: Vec<crate::model::LinkedStory>,
    },

    #[error("the story has {} children; delete them first or pass ?cascade=true", children.len())]
    HasChildren { children: Vec<StorySummary> },

    #[error("the story cannot move from {} to {}", .0.from.as_str(), .0.to.as_str())]
    StatusTransitionBlocked(Box<TransitionRefusal>),

    #[error("the story kept changing while this request ran; retry it")]
    ConcurrentUpdate,

    #[error("story is {status}; code can be generated for Ready or In Progress stories")]
    StoryNotReady { status: &'static str },

    #[error("story already has an active code task {task_id}")]
    ActiveTaskExists { task_id: String },

    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused { task_id: String },

    #[error("the Idempotency-Key header must be 1 to 128 visible ASCII characters")]
    InvalidIdempotencyKey,

    #[error("`{value}` is not a valid code task id")]
    InvalidTaskId { value: String },

    #[error("code task {task_id} does not exist")]
    TaskNotFound { task_id: String },

    #[error("code task {task_id} already finished ({status})")]
    TaskAlreadyFinished {
        task_id: String,
        status: &'static str,
    },

    #[error(
        "code task {task_id} is {status}; only a failed, timed-out or cancelled task with a pull request can be retried"
    )]
    TaskNotRetryable {
        task_id: String,
        status: &'static str,
    },

    #[error(
        "{waiting} requests already wait on code task {task_id}, the limit; send this one after it finishes"
    )]
    TooManyWaitingRequests { task_id: String, waiting: usize },

    #[error("code task {task_id} is not the story's latest; retry {latest_task_id}")]
    TaskSuperseded {
        task_id: String,
        latest_task_id: String,
    },

    #[error(
        "the story's pull request #{pr_number} is still open; request changes on it, or ask for a new pull request with newPullRequest: true"
    )]
    PullRequestOpen {
        pr_number: u64,
        pr_url: Option<String>,
        task_id: String,
    },

    #[error("pull request #{pr_number} is {state}; nothing more can be pushed to it")]
    PullRequestClosed { pr_number: u64, state: &'static str },

    #[error("story {story_id} has no pull request yet; generate code first")]
    NoPullRequest { story_id: u64 },

    #[error(
        "project {key} has no code repository yet; a maintainer links one in the project's settings"
    )]
    RepositoryNotLinked { key: String },

    #[error(
        "the GitHub App cannot reach {repository} (not installed there, removed or suspended); \
         an owner of the repository installs the App on it"
    )]
    RepositoryDisconnected { repository: String },

    #[error(
        "you have used {operation} {limit} times this hour, its hourly limit; try again in {retry_after_seconds} s"
    )]
    RateLimited {
        operation: &'static str,
        limit: u32,
        retry_after_seconds: u64,
    },

    #[error("no language model is configured for this stage; the AI review is off")]
    AiDisabled,

    #[error("the webhook request lacks the {header} header")]
    WebhookHeaderMissing { header: &'static str },

    #[error("the webhook signature does not match")]
    WebhookSignatureInvalid,

    /// No project by that key, no upload token, or another one: the three are one answer, so a
    /// guessed key learns nothing.
    #[error("the upload token is missing, revoked or not this project's")]
    UploadTokenInvalid,

    /// A GitHub Actions OIDC token that GitHub did not sign for this audience, or out of date.
    #[error("the CI token is not valid: {reason}")]
    CiTokenInvalid { reason: String },

    /// A valid Actions token from a repository the project does not link.
    #[error("the CI run's repository {repository} is not linked to this project")]
    CiRepositoryNotLinked { repository: String },

    #[error("a test report is sent as {expected}")]
    UnsupportedMediaType { expected: &'static str },

    #[error("the test report cannot be read: {reason}")]
    ReportMalformed { reason: String },

    #[error("the report names acceptance tests this project does not have: {keys:?}")]
    UnknownTestKeys { keys: Vec<String> },

    #[error("the code host is unavailable: {message}")]
    CodeHostUnavailable { message: String },

    #[error("the code host refused the token: {message}")]
    CodeHostUnauthorized { message: String },

    #[error("{dependency} is unavailable: {message}")]
    DependencyUnavailable {
        dependency: &'static str,
        message: String,
    },

    #[error("nobody is signed in; sign in and try again")]
    Unauthenticated,

    /// The project does not exist or the caller is not a member: the two are indistinguishable
    /// on purpose, so a guessed key or id learns nothing.
    #[error("project {reference} does not exist or you are not a member of it")]
    ProjectNotFound { reference: String },

    #[error("your role ({standing}) does not allow {permission} in this project")]
    PermissionDenied {
        permission: &'static str,
        standing: &'static str,
        policy: &'static str,
    },

    #[error("project key {key} is taken; keys are never reused, even after a rename")]
    ProjectKeyTaken { key: String },

    #[error("{member} is the project's last admin; make someone else admin first")]
    LastAdmin { member: String },

    #[error("{member} is not a member of this project")]
    MemberNotFound { member: String },

    /// An unknown invitation, or a link whose secret does not match: the same answer.
    #[error("this invitation does not exist; ask for a new link")]
    InvitationNotFound,

    #[error("this invitation is {state}; ask an admin of the project for a new one")]
    InvitationNotPending { state: &'static str },

    #[error("this invitation was sent to another email address than the one you signed in with")]
    InvitationForAnotherEmail,

    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
