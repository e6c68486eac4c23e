//! HTTP glue shared by every function: reading requests, writing JSON responses, and the one
//! place where an [`Error`] becomes a status code and a JSON error body.

use std::future::Future;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Request bodies larger than this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One API operation: what a function serves. Expected failures are `Err`s here and become
/// JSON error responses in [`respond`]; a handler never returns an error to the runtime.
pub trait Operation: Send + Sync + 'static {
    fn handle(&self, request: Request) -> impl Future<Output = Result<Response<Body>>> + Send;
}

/// Runs an operation and turns any failure into its JSON error response.
pub async fn respond(operation: &impl Operation, request: Request) -> Response<Body> {
    let request_id = request_id(&request);
    match operation.handle(request).await {
        Ok(response) => response,
        Err(error) => error_response(&error, &request_id),
    }
}

/// The request id API Gateway and Lambda know this request by, for logs and 500 bodies.
pub fn request_id(request: &Request) -> String {
    if let Some(context) = request.lambda_context_ref() {
        return context.request_id.clone();
    }
    match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.request_id.clone().unwrap_or_default()
        }
        _ => String::new(),
    }
}

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_json_content_type(status, bytes),
        Err(error) => error_response(
            &Error::Internal(format!("serializing a response: {error}")),
            "",
        ),
    }
}

fn with_json_content_type(status: StatusCode, bytes: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The single mapping from the error enum to HTTP status, stable code and details.
pub fn error_response(error: &Error, request_id: &str) -> Response<Body> {
    let (status, code, details) = match error {
        Error::InvalidJson(_) => (StatusCode::BAD_REQUEST, "INVALID_JSON", Value::Null),
        Error::UnknownField { field } => (
            StatusCode::BAD_REQUEST,
            "UNKNOWN_FIELD",
            json!({ "field": field }),
        ),
        Error::InvalidFieldType { field, .. } => (
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD_TYPE",
            json!({ "field": field }),
        ),
        Error::Validation(fields) => (
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            json!({ "fields": fields }),
        ),
        Error::InvalidStoryId { value } => (
            StatusCode::BAD_REQUEST,
            "INVALID_STORY_ID",
            json!({ "value": value }),
        ),
        Error::InvalidTestId { value } => (
            StatusCode::BAD_REQUEST,
            "INVALID_TEST_ID",
            json!({ "value": value }),
        ),
        Error::InvalidIfMatch { value } => (
            StatusCode::BAD_REQUEST,
            "INVALID_IF_MATCH",
            json!({ "value": value }),
        ),
        Error::TestNotFound { story_id, id } => (
            StatusCode::NOT_FOUND,
            "ACCEPTANCE_TEST_NOT_FOUND",
            json!({ "storyId": story_id, "id": id }),
        ),
        Error::TooManyTests { story_id, limit } => (
            StatusCode::CONFLICT,
            "TOO_MANY_ACCEPTANCE_TESTS",
            json!({ "storyId": story_id, "limit": limit }),
        ),
        Error::VersionMismatch { current } => (
            StatusCode::PRECONDITION_FAILED,
            "VERSION_MISMATCH",
            json!({ "currentVersion": current }),
        ),
        Error::ParentCycle { parent_id } => (
            StatusCode::CONFLICT,
            "PARENT_CYCLE",
            json!({ "field": "parentId", "parentId": parent_id }),
        ),
        Error::LinkToSelf { id } => (StatusCode::CONFLICT, "LINK_TO_SELF", json!({ "id": id })),
        Error::LinkCycle { ids, cycle } => (
            StatusCode::CONFLICT,
            "LINK_CYCLE",
            json!({ "cycleIds": ids, "cycle": cycle }),
        ),
        Error::LinkToLineage {
            other,
            other_key,
            relation,
        } => (
            StatusCode::CONFLICT,
            "LINK_TO_ANCESTOR_OR_DESCENDANT",
            json!({ "id": other, "key": other_key, "relation": relation }),
        ),
        Error::LinkTargetNotFound { id } => (
            StatusCode::CONFLICT,
            "LINK_TARGET_NOT_FOUND",
            json!({ "id": id }),
        ),
        Error::TooManyLinks { limit } => (
            StatusCode::CONFLICT,
            "TOO_MANY_LINKS",
            json!({ "limit": limit }),
        ),
        Error::DocumentTypeNotAllowed { name } => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "DOCUMENT_TYPE_NOT_ALLOWED",
            json!({
                "name": name,
                "allowed": crate::rules::documents::FileKind::allowed_extensions(),
            }),
        ),
        Error::DocumentTooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "DOCUMENT_TOO_LARGE",
            json!({ "limit": limit }),
        ),
        Error::TooManyDocuments { kind, limit } => (
            StatusCode::CONFLICT,
            "TOO_MANY_DOCUMENTS",
            json!({ "kind": kind, "limit": limit }),
        ),
        Error::UploadNotFound { id } => (
            StatusCode::CONFLICT,
            "UPLOAD_NOT_FOUND",
            json!({ "id": id }),
        ),
        Error::UploadContentMismatch { id, name, reason } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "UPLOAD_CONTENT_MISMATCH",
            json!({ "id": id, "name": name, "reason": reason }),
        ),
        Error::DocumentNotFound { id } => (
            StatusCode::NOT_FOUND,
            "DOCUMENT_NOT_FOUND",
            json!({ "id": id }),
        ),
        Error::NotInTrash { id } => (
            StatusCode::NOT_FOUND,
            "NOT_IN_TRASH",
            json!({ "storyId": id }),
        ),
        Error::StoryBlocked { blockers } => (
            StatusCode::CONFLICT,
            "STORY_BLOCKED",
            json!({ "blockers": blockers }),
        ),
        Error::HasChildren { children } => (
            StatusCode::CONFLICT,
            "HAS_CHILDREN",
            json!({ "children": children }),
        ),
        Error::StatusTransitionBlocked(refusal) => (
            StatusCode::CONFLICT,
            "STATUS_TRANSITION_BLOCKED",
            serde_json::to_value(refusal).unwrap_or_default(),
        ),
        Error::ConcurrentUpdate => (StatusCode::CONFLICT, "CONCURRENT_UPDATE", Value::Null),
        Error::StoryNotReady { status } => (
            StatusCode::CONFLICT,
            "STORY_NOT_READY",
            json!({ "status": status }),
        ),
        Error::ActiveTaskExists { task_id } => (
            StatusCode::CONFLICT,
            "ACTIVE_TASK_EXISTS",
            json!({ "taskId": task_id }),
        ),
        Error::IdempotencyKeyReused { task_id } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "IDEMPOTENCY_KEY_REUSED",
            json!({ "taskId": task_id }),
        ),
        Error::InvalidIdempotencyKey => (
            StatusCode::BAD_REQUEST,
            "INVALID_IDEMPOTENCY_KEY",
            Value::Null,
        ),
        Error::InvalidTaskId { value } => (
            StatusCode::BAD_REQUEST,
            "INVALID_TASK_ID",
            json!({ "value": value }),
        ),
        Error::TaskNotFound { task_id } => (
            StatusCode::NOT_FOUND,
            "CODE_TASK_NOT_FOUND",
            json!({ "taskId": task_id }),
        ),
        Error::TaskAlreadyFinished { task_id, status } => (
            StatusCode::CONFLICT,
            "TASK_ALREADY_FINISHED",
            json!({ "taskId": task_id, "status": status }),
        ),
        Error::TaskNotRetryable { task_id, status } => (
            StatusCode::CONFLICT,
            "TASK_NOT_RETRYABLE",
            json!({ "taskId": task_id, "status": status }),
        ),
        Error::TaskSuperseded {
            task_id,
            latest_task_id,
        } => (
            StatusCode::CONFLICT,
            "TASK_SUPERSEDED",
            json!({ "taskId": task_id, "latestTaskId": latest_task_id }),
        ),
        Error::TooManyWaitingRequests { task_id, waiting } => (
            StatusCode::CONFLICT,
            "TOO_MANY_WAITING_REQUESTS",
            json!({ "taskId": task_id, "waiting": waiting }),
        ),
        Error::PullRequestOpen {
            pr_number,
            pr_url,
            task_id,
        } => (
            StatusCode::CONFLICT,
            "PULL_REQUEST_OPEN",
            json!({ "prNumber": pr_number, "prUrl": pr_url, "taskId": task_id }),
        ),
        Error::PullRequestClosed { pr_number, state } => (
            StatusCode::CONFLICT,
            "PULL_REQUEST_CLOSED",
            json!({ "prNumber": pr_number, "state": state }),
        ),
        Error::NoPullRequest { story_id } => (
            StatusCode::CONFLICT,
            "NO_PULL_REQUEST",
            json!({ "storyId": story_id }),
        ),
        Error::RepositoryNotLinked { key } => (
            StatusCode::CONFLICT,
            "REPOSITORY_NOT_LINKED",
            json!({ "project": key }),
        ),
        Error::RepositoryDisconnected { repository } => (
            StatusCode::CONFLICT,
            "REPOSITORY_DISCONNECTED",
            json!({ "repository": repository }),
        ),
        Error::RateLimited {
            operation,
            limit,
            retry_after_seconds,
        } => (
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            json!({ "operation": operation, "limitPerHour": limit, "retryAfterSeconds": retry_after_seconds }),
        ),
        Error::AiDisabled => (StatusCode::CONFLICT, "AI_DISABLED", Value::Null),
        Error::WebhookHeaderMissing { header } => (
            StatusCode::BAD_REQUEST,
            "WEBHOOK_HEADER_MISSING",
            json!({ "header": header }),
        ),
        Error::UploadTokenInvalid => (
            StatusCode::UNAUTHORIZED,
            "UPLOAD_TOKEN_INVALID",
            Value::Null,
        ),
        Error::CiTokenInvalid { reason } => (
            StatusCode::UNAUTHORIZED,
            "CI_TOKEN_INVALID",
            json!({ "reason": reason }),
        ),
        Error::CiRepositoryNotLinked { repository } => (
            StatusCode::FORBIDDEN,
            "CI_REPOSITORY_NOT_LINKED",
            json!({ "repository": repository }),
        ),
        Error::UnsupportedMediaType { expected } => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            json!({ "expected": expected }),
        ),
        Error::ReportMalformed { reason } => (
            StatusCode::BAD_REQUEST,
            "REPORT_MALFORMED",
            json!({ "reason": reason }),
        ),
        Error::UnknownTestKeys { keys } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_TEST_KEYS",
            json!({ "keys": keys }),
        ),
        Error::WebhookSignatureInvalid => (
            StatusCode::UNAUTHORIZED,
            "WEBHOOK_SIGNATURE_INVALID",
            Value::Null,
        ),
        Error::CodeHostUnavailable { .. } | Error::CodeHostUnauthorized { .. } => {
            tracing::warn!(request_id, error = %error, "code host unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "CODE_HOST_UNAVAILABLE",
                Value::Null,
            )
        }
        Error::InvalidQueryParameter { name, .. } => (
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_PARAMETER",
            json!({ "parameter": name }),
        ),
        Error::InvalidCursor => (StatusCode::BAD_REQUEST, "INVALID_CURSOR", Value::Null),
        Error::PayloadTooLarge { actual, limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            json!({ "bytes": actual, "limitBytes": limit }),
        ),
        Error::StoryNotFound { id } => (
            StatusCode::NOT_FOUND,
            "STORY_NOT_FOUND",
            json!({ "id": id }),
        ),
        Error::ParentNotFound { id } => (
            StatusCode::BAD_REQUEST,
            "PARENT_NOT_FOUND",
            json!({ "field": "parentId", "parentId": id }),
        ),
        Error::Unauthenticated => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", Value::Null),
        Error::ProjectNotFound { reference } => (
            StatusCode::NOT_FOUND,
            "PROJECT_NOT_FOUND",
            json!({ "project": reference }),
        ),
        Error::PermissionDenied {
            permission,
            standing,
            policy,
        } => (
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            json!({ "permission": permission, "role": standing, "policy": policy }),
        ),
        Error::ProjectKeyTaken { key } => (
            StatusCode::CONFLICT,
            "PROJECT_KEY_TAKEN",
            json!({ "field": "key", "key": key }),
        ),
        Error::LastAdmin { member } => (
            StatusCode::CONFLICT,
            "LAST_ADMIN",
            json!({ "member": member }),
        ),
        Error::MemberNotFound { member } => (
            StatusCode::NOT_FOUND,
            "MEMBER_NOT_FOUND",
            json!({ "member": member }),
        ),
        Error::InvitationNotFound => (StatusCode::NOT_FOUND, "INVITATION_NOT_FOUND", json!({})),
        Error::InvitationNotPending { state } => (
            StatusCode::CONFLICT,
            "INVITATION_NOT_PENDING",
            json!({ "state": state }),
        ),
        Error::InvitationForAnotherEmail => (
            StatusCode::FORBIDDEN,
            "INVITATION_EMAIL_MISMATCH",
            json!({}),
        ),
        Error::DependencyUnavailable { dependency, .. } => {
            tracing::warn!(request_id, error = %error, "dependency unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "DEPENDENCY_UNAVAILABLE",
                json!({ "dependency": dependency }),
            )
        }
        Error::Internal(_) => {
            tracing::error!(request_id, error = %error, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                json!({ "requestId": request_id }),
            )
        }
    };
    // Internal errors say nothing about what went wrong inside; the request id finds the log.
    let message = match error {
        Error::Internal(_) => {
            "an internal error occurred; quote the request id when reporting it".to_owned()
        }
        Error::DependencyUnavailable { dependency, .. } => {
            format!("{dependency} is unavailable right now; retry later")
        }
        // The host's own message may quote request details; the log has it.
        Error::CodeHostUnavailable { .. } | Error::CodeHostUnauthorized { .. } => {
            "the code host (GitHub) is unavailable right now; retry later: the same request \
             resumes where this one stopped"
                .to_owned()
        }
        other => other.to_string(),
    };
    let mut body = json!({ "error": { "code": code, "message": message } });
    if !details.is_null() {
        body["error"]["details"] = details;
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = with_json_content_type(status, bytes);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    if let Error::RateLimited {
        retry_after_seconds,
        ..
    } = error
        && let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// Parses a JSON body into `T`, classifying what is wrong: too large, not JSON, an unknown
/// field, or a field of the wrong type.
pub fn parse_json_body<T: DeserializeOwned>(request: &Request) -> Result<T> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge {
            actual: bytes.len(),
            limit: MAX_BODY_BYTES,
        });
    }
    match bytes.iter().find(|byte| !byte.is_ascii_whitespace()) {
        None => {
            return Err(Error::InvalidJson(
                "the body is empty; send a JSON object".into(),
            ));
        }
        // serde would also accept an array for a struct; the API only speaks objects.
        Some(b'{') => {}
        Some(_) => return Err(Error::InvalidJson("the body must be a JSON object".into())),
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        let inner = error.into_inner();
        if !inner.is_data() {
            return Error::InvalidJson(inner.to_string());
        }
        let message = inner.to_string();
        if let Some(name) = unknown_field_name(&message) {
            // The path already ends in the unknown key, except at the top level.
            let field = if field == "." { name } else { field };
            Error::UnknownField { field }
        } else {
            Error::InvalidFieldType {
                field,
                message: strip_position(&message),
            }
        }
    })?;
    deserializer
        .end()
        .map_err(|error| Error::InvalidJson(error.to_string()))?;
    Ok(value)
}

/// serde reports unknown fields as "unknown field `name`, expected …".
fn unknown_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// A header's value, if present and readable as text.
pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers().get(name)?.to_str().ok()
}

/// A query string parameter.
pub fn query_parameter<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.query_string_parameters_ref()?.first(name)
}

/// A path parameter, percent-decoded (the local router passes them still encoded).
pub fn path_parameter(request: &Request, name: &str) -> Option<String> {
    let parameters = request.path_parameters_ref()?;
    let raw = parameters.first(name)?;
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Sample {
        title: Option<String>,
        story_point: Option<i64>,
        components: Option<Vec<String>>,
    }

    fn parse(body: &str) -> Result<Sample> {
        parse_json_body(&Request::new(Body::from(body)))
    }

    fn status_and_code(error: &Error) -> (u16, String) {
        let response = error_response(error, "req-1");
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        (
            response.status().as_u16(),
            body["error"]["code"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn classifies_what_is_wrong_with_a_body() {
        assert!(matches!(parse("{\"title\": "), Err(Error::InvalidJson(_))));
        assert!(matches!(parse(""), Err(Error::InvalidJson(_))));
        assert!(matches!(parse("[1]"), Err(Error::InvalidJson(_))));
        assert!(matches!(parse("{} trailing"), Err(Error::InvalidJson(_))));
        match parse("{\"title\":\"t\",\"colour\":1}") {
            Err(Error::UnknownField { field }) => assert_eq!(field, "colour"),
            other => panic!("{other:?}"),
        }
        match parse("{\"storyPoint\":\"five\"}") {
            Err(Error::InvalidFieldType { field, message }) => {
                assert_eq!(field, "storyPoint");
                assert!(!message.contains("line"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        match parse("{\"components\":[\"a\", 2]}") {
            Err(Error::InvalidFieldType { field, .. }) => assert_eq!(field, "components[1]"),
            other => panic!("{other:?}"),
        }
        assert!(parse("{\"title\":\"t\",\"storyPoint\":null}").is_ok());
    }

    #[test]
    fn bodies_that_are_not_utf8_are_invalid_json() {
        for bytes in [&b"\xff\xfe{"[..], &b"{\"title\":\"\xc3\x28\"}"[..]] {
            let request = Request::new(Body::from(bytes.to_vec()));
            let parsed: Result<Sample> = parse_json_body(&request);
            assert!(matches!(parsed, Err(Error::InvalidJson(_))), "{bytes:?}");
        }
    }

    #[test]
    fn oversized_bodies_are_refused_before_parsing() {
        let big = format!("{{\"title\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES));
        assert!(matches!(parse(&big), Err(Error::PayloadTooLarge { .. })));
    }

    #[test]
    fn every_error_maps_to_its_status_and_code() {
        let cases = [
            (Error::InvalidJson("x".into()), 400, "INVALID_JSON"),
            (
                Error::UnknownField { field: "x".into() },
                400,
                "UNKNOWN_FIELD",
            ),
            (
                Error::InvalidFieldType {
                    field: "x".into(),
                    message: "m".into(),
                },
                400,
                "INVALID_FIELD_TYPE",
            ),
            (Error::Validation(vec![]), 400, "VALIDATION_FAILED"),
            (
                Error::InvalidStoryId { value: "x".into() },
                400,
                "INVALID_STORY_ID",
            ),
            (Error::InvalidCursor, 400, "INVALID_CURSOR"),
            (
                Error::CiTokenInvalid { reason: "x".into() },
                401,
                "CI_TOKEN_INVALID",
            ),
            (
                Error::CiRepositoryNotLinked {
                    repository: "a/b".into(),
                },
                403,
                "CI_REPOSITORY_NOT_LINKED",
            ),
            (
                Error::PayloadTooLarge {
                    actual: 2,
                    limit: 1,
                },
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (Error::StoryNotFound { id: 4 }, 404, "STORY_NOT_FOUND"),
            (Error::ParentNotFound { id: 4 }, 400, "PARENT_NOT_FOUND"),
            (
                Error::InvalidTestId { value: "x".into() },
                400,
                "INVALID_TEST_ID",
            ),
            (
                Error::InvalidIfMatch { value: "x".into() },
                400,
                "INVALID_IF_MATCH",
            ),
            (
                Error::TestNotFound {
                    story_id: 1,
                    id: "t".into(),
                },
                404,
                "ACCEPTANCE_TEST_NOT_FOUND",
            ),
            (
                Error::VersionMismatch { current: 3 },
                412,
                "VERSION_MISMATCH",
            ),
            (Error::ParentCycle { parent_id: 3 }, 409, "PARENT_CYCLE"),
            (
                Error::TooManyTests {
                    story_id: 3,
                    limit: 20,
                },
                409,
                "TOO_MANY_ACCEPTANCE_TESTS",
            ),
            (Error::HasChildren { children: vec![] }, 409, "HAS_CHILDREN"),
            (Error::ConcurrentUpdate, 409, "CONCURRENT_UPDATE"),
            (
                Error::StoryNotReady { status: "Draft" },
                409,
                "STORY_NOT_READY",
            ),
            (
                Error::ActiveTaskExists {
                    task_id: "t".into(),
                },
                409,
                "ACTIVE_TASK_EXISTS",
            ),
            (
                Error::IdempotencyKeyReused {
                    task_id: "t".into(),
                },
                422,
                "IDEMPOTENCY_KEY_REUSED",
            ),
            (Error::InvalidIdempotencyKey, 400, "INVALID_IDEMPOTENCY_KEY"),
            (
                Error::InvalidTaskId { value: "x".into() },
                400,
                "INVALID_TASK_ID",
            ),
            (
                Error::TaskNotFound {
                    task_id: "t".into(),
                },
                404,
                "CODE_TASK_NOT_FOUND",
            ),
            (
                Error::TaskAlreadyFinished {
                    task_id: "t".into(),
                    status: "failed",
                },
                409,
                "TASK_ALREADY_FINISHED",
            ),
            (
                Error::CodeHostUnavailable {
                    message: "m".into(),
                },
                503,
                "CODE_HOST_UNAVAILABLE",
            ),
            (
                Error::CodeHostUnauthorized {
                    message: "m".into(),
                },
                503,
                "CODE_HOST_UNAVAILABLE",
            ),
            (
                Error::DependencyUnavailable {
                    dependency: "stories table",
                    message: "down".into(),
                },
                503,
                "DEPENDENCY_UNAVAILABLE",
            ),
            (
                Error::Internal("secret detail".into()),
                500,
                "INTERNAL_ERROR",
            ),
            (
                Error::TaskNotRetryable {
                    task_id: "t".into(),
                    status: "succeeded",
                },
                409,
                "TASK_NOT_RETRYABLE",
            ),
            (
                Error::TaskSuperseded {
                    task_id: "t".into(),
                    latest_task_id: "u".into(),
                },
                409,
                "TASK_SUPERSEDED",
            ),
            (
                Error::TooManyWaitingRequests {
                    task_id: "t".into(),
                    waiting: 25,
                },
                409,
                "TOO_MANY_WAITING_REQUESTS",
            ),
            (
                Error::PullRequestOpen {
                    pr_number: 7,
                    pr_url: None,
                    task_id: "t".into(),
                },
                409,
                "PULL_REQUEST_OPEN",
            ),
            (
                Error::PullRequestClosed {
                    pr_number: 7,
                    state: "merged",
                },
                409,
                "PULL_REQUEST_CLOSED",
            ),
            (Error::NoPullRequest { story_id: 1 }, 409, "NO_PULL_REQUEST"),
            (
                Error::RepositoryNotLinked { key: "SHOP".into() },
                409,
                "REPOSITORY_NOT_LINKED",
            ),
            (
                Error::RepositoryDisconnected {
                    repository: "acme/shop".into(),
                },
                409,
                "REPOSITORY_DISCONNECTED",
            ),
            (
                Error::WebhookHeaderMissing {
                    header: "X-GitHub-Event",
                },
                400,
                "WEBHOOK_HEADER_MISSING",
            ),
            (
                Error::WebhookSignatureInvalid,
                401,
                "WEBHOOK_SIGNATURE_INVALID",
            ),
            (
                Error::RateLimited {
                    operation: "story-draft",
                    limit: 30,
                    retry_after_seconds: 60,
                },
                429,
                "RATE_LIMITED",
            ),
            (Error::AiDisabled, 409, "AI_DISABLED"),
        ];
        for (error, status, code) in cases {
            assert_eq!(
                status_and_code(&error),
                (status, code.to_owned()),
                "{error:?}"
            );
        }
    }

    #[test]
    fn internal_errors_reveal_nothing_but_the_request_id() {
        let response = error_response(&Error::Internal("table arn:aws:xyz broke".into()), "req-9");
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(!text.contains("arn:aws"), "{text}");
        assert!(text.contains("req-9"), "{text}");
    }
}
