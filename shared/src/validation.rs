//! Boundary validation: turns request bodies and parameters into domain values or field errors.
//!
//! Every rule that a client can break lives here, so the same limits apply wherever the value
//! enters (create now, update later) and every violation is reported at once.

use serde::Deserialize;

use crate::error::{Error, FieldError, Result};
use crate::model::NewStory;

pub const TITLE_MAX_CHARS: usize = 200;
pub const NARRATIVE_MAX_CHARS: usize = 2_000;
pub const DESCRIPTION_MAX_CHARS: usize = 20_000;
pub const COMPONENTS_MAX_ITEMS: usize = 20;
pub const COMPONENT_MAX_CHARS: usize = 50;
pub const EMAIL_MAX_CHARS: usize = 254;
pub const STORY_POINT_MAX: i64 = 100;

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

pub fn validate_new_story(body: CreateStoryBody) -> Result<NewStory> {
    let mut errors = Vec::new();

    let title = body.title.as_deref().map(str::trim).unwrap_or_default();
    if title.is_empty() {
        errors.push(FieldError::new(
            "title",
            "REQUIRED",
            "title is required and must not be blank",
        ));
    } else {
        check_length(&mut errors, "title", title, TITLE_MAX_CHARS);
    }

    let as_a = trimmed(body.as_a);
    let i_want = trimmed(body.i_want);
    let so_that = trimmed(body.so_that);
    check_length(&mut errors, "asA", &as_a, NARRATIVE_MAX_CHARS);
    check_length(&mut errors, "iWant", &i_want, NARRATIVE_MAX_CHARS);
    check_length(&mut errors, "soThat", &so_that, NARRATIVE_MAX_CHARS);
    let description = body.description.unwrap_or_default();
    check_length(
        &mut errors,
        "description",
        &description,
        DESCRIPTION_MAX_CHARS,
    );

    let components: Vec<String> = body
        .components
        .unwrap_or_default()
        .into_iter()
        .map(|component| component.trim().to_owned())
        .collect();
    check_components(&mut errors, &components);

    let story_point = match body.story_point {
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
    };

    let assignee_email = body
        .assignee_email
        .map(|email| email.trim().to_owned())
        .filter(|email| !email.is_empty());
    if let Some(email) = &assignee_email
        && !is_plausible_email(email)
    {
        errors.push(FieldError::new(
            "assigneeEmail",
            "INVALID_EMAIL",
            "assigneeEmail must be an email address such as name@example.com",
        ));
    }

    if body.parent_id == Some(0) {
        errors.push(FieldError::new(
            "parentId",
            "OUT_OF_RANGE",
            "parentId must be the id of an existing story (ids start at 1)",
        ));
    }

    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(NewStory {
        parent_id: body.parent_id,
        title: title.to_owned(),
        as_a,
        i_want,
        so_that,
        description,
        components,
        story_point,
        assignee_email,
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

fn trimmed(value: Option<String>) -> String {
    value.map(|text| text.trim().to_owned()).unwrap_or_default()
}

fn check_length(errors: &mut Vec<FieldError>, field: &str, value: &str, max_chars: usize) {
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
