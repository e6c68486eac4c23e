//! Given/When/Then health of one acceptance test: empty sections, blank steps, and Then steps
//! that observe nothing a tester could check.

use serde::Serialize;

use super::text::{has_number, normalize, phrases_in};

/// Words that name something observable; a Then step with none of them, no number and no
/// quoted text is unverifiable as written ("it works", "the user is happy").
const OBSERVABLE_WORDS: &[&str] = &[
    "status",
    "message",
    "messages",
    "error",
    "errors",
    "display",
    "displays",
    "displayed",
    "show",
    "shows",
    "shown",
    "see",
    "sees",
    "visible",
    "appear",
    "appears",
    "response",
    "responds",
    "return",
    "returns",
    "returned",
    "count",
    "total",
    "contains",
    "equals",
    "equal",
    "list",
    "listed",
    "page",
    "redirect",
    "redirected",
    "email",
    "notification",
    "notified",
    "saved",
    "stored",
    "created",
    "deleted",
    "removed",
    "updated",
    "downloaded",
    "header",
    "field",
    "label",
    "code",
    "value",
    "receives",
    "received",
    "rejected",
    "refused",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GwtIssue {
    /// `given`, `when`, `then`, or a step such as `then[1]`.
    pub field: String,
    pub code: &'static str,
    pub message: String,
    pub suggestion: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GwtHealth {
    pub healthy: bool,
    pub issues: Vec<GwtIssue>,
}

/// Whether one Then step names something a tester can observe.
pub fn then_step_is_observable(step: &str) -> bool {
    let text = normalize(step);
    has_number(&text) || step.contains('"') || !phrases_in(&text, OBSERVABLE_WORDS).is_empty()
}

pub fn gwt_health(given: &[String], when: &[String], then: &[String]) -> GwtHealth {
    let mut issues = Vec::new();
    for (section, steps, suggestion) in [
        (
            "given",
            given,
            "Describe the starting state, e.g. \"Given a story with 2 acceptance tests\".",
        ),
        (
            "when",
            when,
            "Name the one action under test, e.g. \"When the user exports the story\".",
        ),
        (
            "then",
            then,
            "State the observable result, e.g. \"Then the response status is 201\".",
        ),
    ] {
        if steps.is_empty() {
            issues.push(GwtIssue {
                field: section.to_owned(),
                code: "EMPTY_SECTION",
                message: format!("{section} has no steps"),
                suggestion,
            });
        }
        for (index, step) in steps.iter().enumerate() {
            if step.trim().is_empty() {
                issues.push(GwtIssue {
                    field: format!("{section}[{index}]"),
                    code: "BLANK_STEP",
                    message: format!("{section} step {} is blank", index + 1),
                    suggestion: "Remove the blank step or write what it checks.",
                });
            }
        }
    }
    for (index, step) in then.iter().enumerate() {
        if !step.trim().is_empty() && !then_step_is_observable(step) {
            issues.push(GwtIssue {
                field: format!("then[{index}]"),
                code: "UNOBSERVABLE_THEN",
                message: format!("then step {} observes nothing measurable: \"{step}\"", index + 1),
                suggestion: "Name what a tester can check: a status, a message, a count, a value shown or returned.",
            });
        }
    }
    GwtHealth {
        healthy: issues.is_empty(),
        issues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn observable_then_steps() {
        for step in [
            "the response status is 201",
            "a confirmation message is displayed",
            "the list shows 3 stories",
            "the CSV file is downloaded",
            "an error \"title is required\" appears",
            "the page loads within 2 seconds",
        ] {
            assert!(then_step_is_observable(step), "{step}");
        }
    }

    #[test]
    fn unobservable_then_steps() {
        for step in [
            "it works",
            "everything is fine",
            "the user is happy",
            "the export works correctly",
            "it is fast",
        ] {
            assert!(!then_step_is_observable(step), "{step}");
        }
    }

    #[test]
    fn a_complete_test_is_healthy() {
        let health = gwt_health(
            &steps(&["a story in Draft"]),
            &steps(&["the PM exports it"]),
            &steps(&["a CSV with 1 row is downloaded"]),
        );
        assert!(health.healthy, "{health:?}");
    }

    #[test]
    fn empty_sections_blank_steps_and_vague_thens_are_reported() {
        let health = gwt_health(&[], &steps(&["export", " "]), &steps(&["it works"]));
        let found: Vec<(&str, &str)> = health
            .issues
            .iter()
            .map(|issue| (issue.field.as_str(), issue.code))
            .collect();
        assert_eq!(
            found,
            [
                ("given", "EMPTY_SECTION"),
                ("when[1]", "BLANK_STEP"),
                ("then[0]", "UNOBSERVABLE_THEN")
            ]
        );
        assert!(!health.healthy);
    }
}
