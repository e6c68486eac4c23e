//! Boundary validation: turns request bodies and parameters into domain values or field errors.
//!
//! Every rule that a client can break lives here, so the same limits apply wherever the value
//! enters (create now, update later) and every violation is reported at once.

use serde::Deserialize;

use crate::changes::{StoryChanges, TestChanges};
use crate::error::{Error, FieldError, Result};
use crate::model::{NewStory, StoryStatus, TestStatus};

pub const TITLE_MAX_CHARS: usize = 200;
pub const NARRATIVE_MAX_CHARS: usize = 2_000;
pub const DESCRIPTION_MAX_CHARS: usize = 20_000;
pub const COMPONENTS_MAX_ITEMS: usize = 20;
pub const COMPONENT_MAX_CHARS: usize = 50;
pub const EMAIL_MAX_CHARS: usize = 254;
pub const STORY_POINT_MAX: i64 = 100;
pub const STEPS_MAX_ITEMS: usize = 20;
pub const STEP_MAX_CHARS: usize = 1_000;

/// The body of `POST /stories` exactly as a client may send it. Every field is optional here
/// so that missing and invalid fields are all reported together by [`validate_new_story`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateStoryBody {
    pub parent_id: Option<u64>,
    pub title: Option<String>,
    pub as_a: Option<String>,
    pub i_want: Option<String>,
    pub so_that: Option<String>,
    pub description: Option<String>,
    pub components: Option<Vec<String>>,
    pub story_point: Option<i64>,
    pub assignee_email: Option<String>,
}

/// Validates a create with the same field rules as a PATCH, plus a required title.
pub fn validate_new_story(body: CreateStoryBody) -> Result<NewStory> {
    let title_missing = body.title.is_none();
    let as_changes = UpdateStoryBody {
        title: body.title,
        as_a: body.as_a,
        i_want: body.i_want,
        so_that: body.so_that,
        description: body.description,
        components: body.components,
        story_point: body.story_point.map(Some),
        assignee_email: body.assignee_email.map(Some),
        parent_id: body.parent_id.map(Some),
        ..UpdateStoryBody::default()
    };
    let changes = match (validate_story_changes(as_changes), title_missing) {
        (Ok((changes, _)), false) => changes,
        (Ok(_), true) => return Err(Error::Validation(vec![title_required()])),
        (Err(Error::Validation(mut errors)), true) => {
            errors.insert(0, title_required());
            return Err(Error::Validation(errors));
        }
        (Err(error), _) => return Err(error),
    };
    Ok(NewStory {
        parent_id: changes.parent_id.flatten(),
        title: changes.title.unwrap_or_default(),
        as_a: changes.as_a.unwrap_or_default(),
        i_want: changes.i_want.unwrap_or_default(),
        so_that: changes.so_that.unwrap_or_default(),
        description: changes.description.unwrap_or_default(),
        components: changes.components.unwrap_or_default(),
        story_point: changes.story_point.flatten(),
        assignee_email: changes.assignee_email.flatten(),
        created_by: None,
    })
}

fn title_required() -> FieldError {
    FieldError::new(
        "title",
        "REQUIRED",
        "title is required and must not be blank",
    )
}

/// Reads a field that may be absent (leave as is), `null` (clear it) or a value.
fn double_option<'de, T, D>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The body of `PATCH /stories/{id}`: only the fields sent change; `null` clears an optional one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateStoryBody {
    pub title: Option<String>,
    pub as_a: Option<String>,
    pub i_want: Option<String>,
    pub so_that: Option<String>,
    pub description: Option<String>,
    pub components: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub story_point: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    pub assignee_email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    pub parent_id: Option<Option<u64>>,
    pub status: Option<StoryStatus>,
    pub accept_warnings: Option<bool>,
    /// Why (a status move's reason): kept in the history entry, not on the story.
    pub reason: Option<String>,
    /// The version the client last saw; an alternative to the If-Match header.
    pub version: Option<u64>,
}

/// A change's reason, kept in its history entry.
pub const REASON_MAX_CHARS: usize = 500;

/// Validates a story PATCH with the same limits as a create; returns the changes and the
/// version the client expects, if it sent one.
pub fn validate_story_changes(body: UpdateStoryBody) -> Result<(StoryChanges, Option<u64>)> {
    let mut errors = Vec::new();
    let title = check_new_title(&mut errors, body.title);
    let reason = body.reason.map(|text| text.trim().to_owned());
    if let Some(reason) = &reason {
        check_length(&mut errors, "reason", reason, REASON_MAX_CHARS);
    }
    let as_a = body.as_a.map(|text| text.trim().to_owned());
    let i_want = body.i_want.map(|text| text.trim().to_owned());
    let so_that = body.so_that.map(|text| text.trim().to_owned());
    for (field, value) in [("asA", &as_a), ("iWant", &i_want), ("soThat", &so_that)] {
        if let Some(value) = value {
            check_length(&mut errors, field, value, NARRATIVE_MAX_CHARS);
        }
    }
    if let Some(description) = &body.description {
        check_length(
            &mut errors,
            "description",
            description,
            DESCRIPTION_MAX_CHARS,
        );
    }
    let components = body.components.map(|components| {
        components
            .into_iter()
            .map(|component| component.trim().to_owned())
            .collect::<Vec<_>>()
    });
    if let Some(components) = &components {
        check_components(&mut errors, components);
    }
    let story_point = body.story_point.map(|points| match points {
        None => None,
        Some(points) if (0..=STORY_POINT_MAX).contains(&points) => u32::try_from(points).ok(),
        Some(_) => {
            errors.push(FieldError::new(
                "storyPoint",
                "OUT_OF_RANGE",
                format!("storyPoint must be an integer from 0 to {STORY_POINT_MAX}"),
            ));
            None
        }
    });
    let assignee_email = body.assignee_email.map(|email| {
        email
            .map(|email| email.trim().to_owned())
            .filter(|email| !email.is_empty())
    });
    if let Some(Some(email)) = &assignee_email
        && !is_plausible_email(email)
    {
        errors.push(FieldError::new(
            "assigneeEmail",
            "INVALID_EMAIL",
            "assigneeEmail must be an email address such as name@example.com",
        ));
    }
    if body.parent_id == Some(Some(0)) {
        errors.push(FieldError::new(
            "parentId",
            "OUT_OF_RANGE",
            "parentId must be the id of an existing story (ids start at 1)",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let changes = StoryChanges {
        title,
        as_a,
        i_want,
        so_that,
        description: body.description,
        components,
        story_point,
        assignee_email,
        parent_id: body.parent_id,
        status: body.status,
        accept_warnings: body.accept_warnings,
        blocked_from: None,
        merge: None,
        documents: None,
        updated_by: None,
        note: crate::history::ChangeNote {
            author: None,
            reason: reason.filter(|reason| !reason.is_empty()),
        },
    };
    Ok((changes, body.version))
}

/// The body of `POST /stories/{id}/tests`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateTestBody {
    pub title: Option<String>,
    pub given: Option<Vec<String>>,
    pub when: Option<Vec<String>>,
    pub then: Option<Vec<String>>,
    pub status: Option<TestStatus>,
}

/// The body of `PATCH /stories/{id}/tests/{testId}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateTestBody {
    pub title: Option<String>,
    pub given: Option<Vec<String>>,
    pub when: Option<Vec<String>>,
    pub then: Option<Vec<String>>,
    pub status: Option<TestStatus>,
    pub needs_review: Option<bool>,
    pub version: Option<u64>,
}

/// A validated new acceptance test: title and steps, trimmed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTest {
    pub title: String,
    pub given: Vec<String>,
    pub when: Vec<String>,
    pub then: Vec<String>,
    pub status: TestStatus,
}

fn check_steps(
    errors: &mut Vec<FieldError>,
    field: &str,
    steps: Option<Vec<String>>,
) -> Option<Vec<String>> {
    let steps: Vec<String> = steps?
        .into_iter()
        .map(|step| step.trim().to_owned())
        .collect();
    if steps.len() > STEPS_MAX_ITEMS {
        errors.push(FieldError::new(
            field,
            "TOO_MANY_ITEMS",
            format!(
                "{field} has {} steps; the limit is {STEPS_MAX_ITEMS}",
                steps.len()
            ),
        ));
    }
    for (index, step) in steps.iter().enumerate() {
        check_length(errors, &format!("{field}[{index}]"), step, STEP_MAX_CHARS);
    }
    Some(steps)
}

pub fn validate_new_test(body: CreateTestBody) -> Result<NewTest> {
    let mut errors = Vec::new();
    let title = body
        .title
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if title.is_empty() {
        errors.push(title_required());
    } else {
        check_length(&mut errors, "title", &title, TITLE_MAX_CHARS);
    }
    let given = check_steps(&mut errors, "given", body.given).unwrap_or_default();
    let when = check_steps(&mut errors, "when", body.when).unwrap_or_default();
    let then = check_steps(&mut errors, "then", body.then).unwrap_or_default();
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(NewTest {
        title,
        given,
        when,
        then,
        status: body.status.unwrap_or(TestStatus::Draft),
    })
}

/// Validates a test PATCH; editing the title or steps counts as reviewing the test.
pub fn validate_test_changes(body: UpdateTestBody) -> Result<(TestChanges, Option<u64>)> {
    let mut errors = Vec::new();
    let title = check_new_title(&mut errors, body.title);
    let given = check_steps(&mut errors, "given", body.given);
    let when = check_steps(&mut errors, "when", body.when);
    let then = check_steps(&mut errors, "then", body.then);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let edited = title.is_some() || given.is_some() || when.is_some() || then.is_some();
    let needs_review = body.needs_review.or(edited.then_some(false));
    Ok((
        TestChanges {
            title,
            given,
            when,
            then,
            status: body.status,
            status_set: None,
            needs_review,
            note: Default::default(),
        },
        body.version,
    ))
}

/// Acceptance test ids: letters, digits, `-` and `_`, at most 64.
pub fn parse_test_id(raw: &str) -> Result<String> {
    if raw.is_empty()
        || raw.len() > 64
        || !raw
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    {
        return Err(Error::InvalidTestId {
            value: raw.chars().take(64).collect(),
        });
    }
    Ok(raw.to_owned())
}

/// Code task ids are hex strings; anything else cannot name a task.
pub fn parse_task_id(raw: &str) -> Result<String> {
    if raw.is_empty() || raw.len() > 64 || !raw.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(Error::InvalidTaskId {
            value: raw.chars().take(64).collect(),
        });
    }
    Ok(raw.to_ascii_lowercase())
}

/// Reads the version from an `If-Match` header: `3`, `"3"` or `W/"3"`.
pub fn parse_if_match(raw: Option<&str>) -> Result<Option<u64>> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    let unquoted = raw.trim_start_matches("W/").trim_matches('"');
    unquoted
        .parse::<u64>()
        .map(Some)
        .map_err(|_| Error::InvalidIfMatch {
            value: raw.chars().take(40).collect(),
        })
}

/// Parses a story id from a path segment: a positive decimal integer and nothing else.
pub fn parse_story_id(raw: &str) -> Result<u64> {
    let invalid = || Error::InvalidStoryId {
        value: raw.chars().take(40).collect(),
    };
    if raw.is_empty() || !raw.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    match raw.parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(invalid()),
    }
}

/// A title a PATCH sets: trimmed, not blank, within the limit.
fn check_new_title(errors: &mut Vec<FieldError>, title: Option<String>) -> Option<String> {
    let title = title.map(|title| title.trim().to_owned());
    if let Some(title) = &title {
        if title.is_empty() {
            errors.push(FieldError::new(
                "title",
                "REQUIRED",
                "title must not be blank",
            ));
        } else {
            check_length(errors, "title", title, TITLE_MAX_CHARS);
            let flagged = errors
                .iter()
                .any(|error| error.field == "title" && error.code == "CONTROL_CHARACTER");
            if !flagged && title.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    "title",
                    "CONTROL_CHARACTER",
                    "title is one line of text: no control characters (NUL, line breaks, tabs)",
                ));
            }
        }
    }
    title
}

/// The length limit, and no control characters but line breaks and tabs: a NUL or an escape
/// sequence in a story would reach TASK.md, pull requests and terminals.
fn check_length(errors: &mut Vec<FieldError>, field: &str, value: &str, max_chars: usize) {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errors.push(FieldError::new(
            field,
            "CONTROL_CHARACTER",
            format!("{field} holds a control character; only line breaks and tabs are allowed"),
        ));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        errors.push(FieldError::new(
            field,
            "TOO_LONG",
            format!("{field} is {chars} characters; the limit is {max_chars}"),
        ));
    }
}

fn check_components(errors: &mut Vec<FieldError>, components: &[String]) {
    if components.len() > COMPONENTS_MAX_ITEMS {
        errors.push(FieldError::new(
            "components",
            "TOO_MANY_ITEMS",
            format!(
                "components has {} items; the limit is {COMPONENTS_MAX_ITEMS}",
                components.len()
            ),
        ));
    }
    for (index, component) in components.iter().enumerate() {
        let field = format!("components[{index}]");
        if component.is_empty() {
            errors.push(FieldError::new(
                field,
                "REQUIRED",
                "components must not be blank",
            ));
        } else {
            check_length(errors, &field, component, COMPONENT_MAX_CHARS);
        }
    }
}

/// A deliberately modest check: one `@`, a local part, a dotted domain, no spaces. Whether the
/// mailbox exists is not knowable here; catching typos such as a missing `@` is the point.
fn is_plausible_email(email: &str) -> bool {
    if email.chars().count() > EMAIL_MAX_CHARS || email.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(title: &str) -> CreateStoryBody {
        CreateStoryBody {
            title: Some(title.into()),
            ..CreateStoryBody::default()
        }
    }

    fn field_codes(result: Result<NewStory>) -> Vec<(String, &'static str)> {
        match result {
            Err(Error::Validation(errors)) => {
                errors.into_iter().map(|e| (e.field, e.code)).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_title_alone_makes_a_draft_story_with_trimmed_fields() {
        let story = validate_new_story(CreateStoryBody {
            components: Some(vec![" api ".into()]),
            assignee_email: Some("  ".into()),
            ..body("  Export CSV  ")
        })
        .unwrap();
        assert_eq!(story.title, "Export CSV");
        assert_eq!(story.components, vec!["api".to_string()]);
        assert_eq!(story.assignee_email, None);
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_in_the_narrative_are_not() {
        assert_eq!(
            field_codes(validate_new_story(body("Export\0CSV"))),
            vec![("title".to_string(), "CONTROL_CHARACTER")]
        );
        assert_eq!(
            field_codes(validate_new_story(body("Export\nCSV"))),
            vec![("title".to_string(), "CONTROL_CHARACTER")]
        );
        assert_eq!(
            field_codes(validate_new_story(CreateStoryBody {
                description: Some("bell \u{7} here".into()),
                ..body("Export")
            })),
            vec![("description".to_string(), "CONTROL_CHARACTER")]
        );
        let story = validate_new_story(CreateStoryBody {
            description: Some("first line\n\tsecond".into()),
            ..body("Export")
        })
        .unwrap();
        assert_eq!(story.description, "first line\n\tsecond");
    }

    #[test]
    fn missing_or_blank_title_is_required() {
        assert_eq!(
            field_codes(validate_new_story(CreateStoryBody::default())),
            vec![("title".to_string(), "REQUIRED")]
        );
        assert_eq!(
            field_codes(validate_new_story(body("   "))),
            vec![("title".to_string(), "REQUIRED")]
        );
    }

    #[test]
    fn title_limit_is_200_characters_not_bytes() {
        assert!(validate_new_story(body(&"é".repeat(200))).is_ok());
        assert_eq!(
            field_codes(validate_new_story(body(&"a".repeat(201)))),
            vec![("title".to_string(), "TOO_LONG")]
        );
    }

    #[test]
    fn story_point_must_be_within_0_to_100() {
        for ok in [0, 13, 100] {
            let story = validate_new_story(CreateStoryBody {
                story_point: Some(ok),
                ..body("t")
            })
            .unwrap();
            assert_eq!(story.story_point, Some(ok as u32));
        }
        for bad in [-1, 101, i64::MAX] {
            assert_eq!(
                field_codes(validate_new_story(CreateStoryBody {
                    story_point: Some(bad),
                    ..body("t")
                })),
                vec![("storyPoint".to_string(), "OUT_OF_RANGE")]
            );
        }
    }

    #[test]
    fn assignee_email_must_look_like_an_email() {
        for ok in ["dev@example.com", "first.last+tag@sub.example.co"] {
            assert!(
                validate_new_story(CreateStoryBody {
                    assignee_email: Some(ok.into()),
                    ..body("t")
                })
                .is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "dev",
            "dev@",
            "@example.com",
            "dev@example",
            "a b@c.d",
            "a@b@c.d",
            "a@.com",
        ] {
            assert_eq!(
                field_codes(validate_new_story(CreateStoryBody {
                    assignee_email: Some(bad.into()),
                    ..body("t")
                })),
                vec![("assigneeEmail".to_string(), "INVALID_EMAIL")],
                "{bad}"
            );
        }
    }

    #[test]
    fn components_are_short_non_blank_and_bounded() {
        let errors = field_codes(validate_new_story(CreateStoryBody {
            components: Some(vec!["ok".into(), " ".into(), "x".repeat(51)]),
            ..body("t")
        }));
        assert_eq!(
            errors,
            vec![
                ("components[1]".to_string(), "REQUIRED"),
                ("components[2]".to_string(), "TOO_LONG")
            ]
        );
        let errors = field_codes(validate_new_story(CreateStoryBody {
            components: Some(vec!["c".into(); 21]),
            ..body("t")
        }));
        assert_eq!(errors, vec![("components".to_string(), "TOO_MANY_ITEMS")]);
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let errors = field_codes(validate_new_story(CreateStoryBody {
            story_point: Some(500),
            assignee_email: Some("nope".into()),
            parent_id: Some(0),
            ..CreateStoryBody::default()
        }));
        let fields: Vec<&str> = errors.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, ["title", "storyPoint", "assigneeEmail", "parentId"]);
    }

    #[test]
    fn a_patch_distinguishes_absent_null_and_values() {
        let body: UpdateStoryBody =
            serde_json::from_str(r#"{"storyPoint":null,"assigneeEmail":"a@b.io","version":3}"#)
                .unwrap();
        let (changes, version) = validate_story_changes(body).unwrap();
        assert_eq!(changes.story_point, Some(None));
        assert_eq!(changes.assignee_email, Some(Some("a@b.io".into())));
        assert_eq!(changes.parent_id, None);
        assert_eq!(changes.title, None);
        assert_eq!(version, Some(3));
        let body: UpdateStoryBody =
            serde_json::from_str(r#"{"title":" ","storyPoint":101}"#).unwrap();
        let fields: Vec<String> = match validate_story_changes(body) {
            Err(Error::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(fields, ["title", "storyPoint"]);
    }

    #[test]
    fn tests_need_a_title_and_bounded_steps() {
        let test = validate_new_test(CreateTestBody {
            title: Some(" Export ".into()),
            then: Some(vec![" a file is downloaded ".into()]),
            ..CreateTestBody::default()
        })
        .unwrap();
        assert_eq!(test.title, "Export");
        assert_eq!(test.then, ["a file is downloaded"]);
        assert_eq!(test.status, TestStatus::Draft);
        let errors = match validate_new_test(CreateTestBody {
            given: Some(vec!["g".into(); 21]),
            when: Some(vec!["w".repeat(1001)]),
            ..CreateTestBody::default()
        }) {
            Err(Error::Validation(errors)) => errors
                .into_iter()
                .map(|e| (e.field, e.code))
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            errors,
            [
                ("title".to_string(), "REQUIRED"),
                ("given".to_string(), "TOO_MANY_ITEMS"),
                ("when[0]".to_string(), "TOO_LONG")
            ]
        );
    }

    #[test]
    fn editing_a_test_counts_as_reviewing_it_unless_said_otherwise() {
        let (changes, _) = validate_test_changes(UpdateTestBody {
            then: Some(vec!["status is 200".into()]),
            ..UpdateTestBody::default()
        })
        .unwrap();
        assert_eq!(changes.needs_review, Some(false));
        let (changes, _) = validate_test_changes(UpdateTestBody {
            status: Some(TestStatus::Pass),
            ..UpdateTestBody::default()
        })
        .unwrap();
        assert_eq!(changes.needs_review, None);
    }

    #[test]
    fn if_match_and_test_ids() {
        assert_eq!(parse_if_match(None).unwrap(), None);
        assert_eq!(parse_if_match(Some("4")).unwrap(), Some(4));
        assert_eq!(parse_if_match(Some("\"4\"")).unwrap(), Some(4));
        assert_eq!(parse_if_match(Some("W/\"4\"")).unwrap(), Some(4));
        assert!(matches!(
            parse_if_match(Some("*x")),
            Err(Error::InvalidIfMatch { .. })
        ));
        assert_eq!(parse_test_id("t-1a_B").unwrap(), "t-1a_B");
        for bad in ["", "a/b", "a b", &"x".repeat(65)] {
            assert!(
                matches!(parse_test_id(bad), Err(Error::InvalidTestId { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn story_ids_are_positive_decimal_integers() {
        assert_eq!(parse_story_id("1").unwrap(), 1);
        assert_eq!(parse_story_id("0042").unwrap(), 42);
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "abc",
            "1.5",
            " 1",
            "99999999999999999999999",
        ] {
            assert!(
                matches!(parse_story_id(bad), Err(Error::InvalidStoryId { .. })),
                "{bad:?}"
            );
        }
    }
}
