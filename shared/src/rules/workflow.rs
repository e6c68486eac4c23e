//! The status workflow: which transitions exist and what each one requires.
//!
//! Draft → Ready → In Progress → Done, each step back allowed, and Blocked from any status, which
//! returns only to the status it was blocked from.

use serde::Serialize;

use super::invest::InvestAnalysis;
use crate::model::{AcceptanceTest, StoryStatus, StorySummary, TestStatus};

use StoryStatus::{Blocked, Done, Draft, InProgress, Ready};

/// The transitions that exist at all, before their requirements are checked.
const TRANSITIONS: &[(StoryStatus, StoryStatus)] = &[
    (Draft, Ready),
    (Ready, Draft),
    (Ready, InProgress),
    (InProgress, Ready),
    (InProgress, Done),
    (Done, InProgress),
];

/// What a transition's requirements are checked against.
pub struct TransitionContext<'a> {
    pub invest: &'a InvestAnalysis,
    pub accept_warnings: bool,
    pub tests: &'a [AcceptanceTest],
    pub children: &'a [StorySummary],
    pub blocked_from: Option<StoryStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockingTest {
    pub id: String,
    pub title: String,
    pub status: TestStatus,
}

/// Why a transition was refused; serialized as the 409's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionRefusal {
    pub from: StoryStatus,
    pub to: StoryStatus,
    pub reasons: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<StoryStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocking_children: Vec<StorySummary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocking_tests: Vec<BlockingTest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invest_warnings: Vec<&'static str>,
}

/// The statuses reachable from `from` (before requirements).
pub fn next_statuses(from: StoryStatus, blocked_from: Option<StoryStatus>) -> Vec<StoryStatus> {
    if from == Blocked {
        return blocked_from.into_iter().collect();
    }
    let mut next: Vec<StoryStatus> = TRANSITIONS
        .iter()
        .filter(|(source, _)| *source == from)
        .map(|(_, target)| *target)
        .collect();
    next.push(Blocked);
    next
}

pub fn check_transition(
    from: StoryStatus,
    to: StoryStatus,
    context: &TransitionContext<'_>,
) -> Result<(), Box<TransitionRefusal>> {
    let mut refusal = TransitionRefusal {
        from,
        to,
        reasons: Vec::new(),
        allowed: Vec::new(),
        blocking_children: Vec::new(),
        blocking_tests: Vec::new(),
        invest_warnings: Vec::new(),
    };
    if from == to {
        return Ok(());
    }
    let allowed = next_statuses(from, context.blocked_from);
    if !allowed.contains(&to) {
        refusal.reasons.push(if from == Blocked {
            "BLOCKED_RETURNS_TO_PREVIOUS_STATUS"
        } else {
            "TRANSITION_NOT_ALLOWED"
        });
        refusal.allowed = allowed;
        return Err(Box::new(refusal));
    }
    match to {
        Ready if from == Draft => {
            if !context.invest.passed && !context.accept_warnings {
                refusal.reasons.push("INVEST_WARNINGS");
                refusal.invest_warnings = context.invest.warnings.iter().map(|w| w.code).collect();
            }
            if context.tests.is_empty() {
                refusal.reasons.push("NO_ACCEPTANCE_TESTS");
            }
        }
        Done => {
            refusal.blocking_children = context
                .children
                .iter()
                .filter(|child| child.status != Done)
                .cloned()
                .collect();
            if !refusal.blocking_children.is_empty() {
                refusal.reasons.push("CHILDREN_NOT_DONE");
            }
            refusal.blocking_tests = context
                .tests
                .iter()
                .filter(|test| test.status != TestStatus::Pass)
                .map(|test| BlockingTest {
                    id: test.id.clone(),
                    title: test.title.clone(),
                    status: test.status,
                })
                .collect();
            if !refusal.blocking_tests.is_empty() {
                refusal.reasons.push("TESTS_NOT_PASSING");
            }
        }
        _ => {}
    }
    if refusal.reasons.is_empty() {
        Ok(())
    } else {
        Err(Box::new(refusal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::invest::{Criterion, InvestWarning};
    use chrono::Utc;

    fn analysis(passed: bool) -> InvestAnalysis {
        InvestAnalysis {
            score: if passed { 100 } else { 85 },
            passed,
            criteria: vec![],
            warnings: if passed {
                vec![]
            } else {
                vec![InvestWarning {
                    criterion: Criterion::Valuable,
                    code: "MISSING_BENEFIT",
                    message: "m".into(),
                    suggestion: "s",
                }]
            },
        }
    }

    fn test_with(status: TestStatus) -> AcceptanceTest {
        AcceptanceTest {
            story_id: 1,
            id: "t1".into(),
            key: None,
            title: "exports".into(),
            given: vec![],
            when: vec![],
            then: vec![],
            status,
            needs_review: false,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn child(id: u64, status: StoryStatus) -> StorySummary {
        StorySummary {
            id,
            title: format!("child {id}"),
            status,
        }
    }

    fn check(
        from: StoryStatus,
        to: StoryStatus,
        invest_passed: bool,
        accept: bool,
        tests: &[AcceptanceTest],
        children: &[StorySummary],
    ) -> Result<(), Box<TransitionRefusal>> {
        let invest = analysis(invest_passed);
        check_transition(
            from,
            to,
            &TransitionContext {
                invest: &invest,
                accept_warnings: accept,
                tests,
                children,
                blocked_from: Some(Ready),
            },
        )
    }

    #[test]
    fn ready_needs_invest_or_accepted_warnings_and_a_test() {
        let tests = [test_with(TestStatus::Draft)];
        assert!(check(Draft, Ready, true, false, &tests, &[]).is_ok());
        assert!(check(Draft, Ready, false, true, &tests, &[]).is_ok());
        let refused = check(Draft, Ready, false, false, &[], &[]).unwrap_err();
        assert_eq!(refused.reasons, ["INVEST_WARNINGS", "NO_ACCEPTANCE_TESTS"]);
        assert_eq!(refused.invest_warnings, ["MISSING_BENEFIT"]);
    }

    #[test]
    fn done_needs_every_child_done_and_every_test_passing() {
        let passing = [test_with(TestStatus::Pass)];
        assert!(check(InProgress, Done, true, false, &passing, &[child(2, Done)]).is_ok());
        let failing = [test_with(TestStatus::Fail)];
        let refused = check(
            InProgress,
            Done,
            true,
            false,
            &failing,
            &[child(2, Done), child(3, InProgress)],
        )
        .unwrap_err();
        assert_eq!(refused.reasons, ["CHILDREN_NOT_DONE", "TESTS_NOT_PASSING"]);
        assert_eq!(refused.blocking_children, [child(3, InProgress)]);
        assert_eq!(refused.blocking_tests[0].id, "t1");
    }

    #[test]
    fn skipping_steps_is_not_allowed_but_stepping_back_is() {
        let refused = check(Draft, Done, true, false, &[], &[]).unwrap_err();
        assert_eq!(refused.reasons, ["TRANSITION_NOT_ALLOWED"]);
        assert_eq!(refused.allowed, [Ready, Blocked]);
        assert!(check(Draft, InProgress, true, false, &[], &[]).is_err());
        assert!(check(Ready, Draft, false, false, &[], &[]).is_ok());
        assert!(check(Done, InProgress, false, false, &[], &[]).is_ok());
        assert!(check(Draft, Draft, false, false, &[], &[]).is_ok());
    }

    #[test]
    fn blocked_from_anywhere_and_back_only_to_where_it_was() {
        for from in [Draft, Ready, InProgress, Done] {
            assert!(
                check(from, Blocked, false, false, &[], &[]).is_ok(),
                "{from:?}"
            );
        }
        assert!(check(Blocked, Ready, false, false, &[], &[]).is_ok());
        let refused = check(Blocked, InProgress, true, false, &[], &[]).unwrap_err();
        assert_eq!(refused.reasons, ["BLOCKED_RETURNS_TO_PREVIOUS_STATUS"]);
        assert_eq!(refused.allowed, [Ready]);
    }
}
