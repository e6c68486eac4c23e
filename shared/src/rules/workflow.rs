//! The status workflow: which transitions exist and what each one requires.
//!
//! Draft → Ready → In Progress → Done, each step back allowed, and Blocked from any status, which
//! returns only to the status it was blocked from.

use serde::Serialize;

use super::invest::InvestAnalysis;
use crate::model::{AcceptanceTest, LinkedStory, StoryStatus, StorySummary, TestStatus};
use crate::traceability::matrix::TestRow;
use crate::traceability::status::Evidence;

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
    /// Where the project's Done needs CI evidence: each test's evidence at the story's commit.
    /// A test CI reports on must then pass there; the others still need their manual Pass.
    pub ci_evidence: Option<&'a [TestRow]>,
    /// The stories it is "blocked by" that are not Done.
    pub open_blockers: &'a [LinkedStory],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockingTest {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub title: String,
    pub status: TestStatus,
    /// What CI says of it, when the Done gate judged it by CI evidence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
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
    /// Done waits for these: the story is "blocked by" them and they are not Done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocking_stories: Vec<LinkedStory>,
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
        blocking_stories: Vec::new(),
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
            if !context.open_blockers.is_empty() {
                refusal.reasons.push("OPEN_BLOCKERS");
                refusal.blocking_stories = context.open_blockers.to_vec();
            }
            let judged_by_ci = |test: &AcceptanceTest| {
                context.ci_evidence.and_then(|rows| {
                    rows.iter()
                        .find(|row| row.id == test.id)
                        .map(|row| row.evidence)
                        .filter(|evidence| *evidence != Evidence::Uncovered)
                })
            };
            let mut failing_ci = Vec::new();
            for test in context.tests {
                let blocking = |evidence| BlockingTest {
                    id: test.id.clone(),
                    key: test.key.clone(),
                    title: test.title.clone(),
                    status: test.status,
                    evidence,
                };
                match judged_by_ci(test) {
                    Some(Evidence::Pass) => {}
                    Some(evidence) => failing_ci.push(blocking(Some(evidence))),
                    None if test.status != TestStatus::Pass => {
                        refusal.blocking_tests.push(blocking(None));
                    }
                    None => {}
                }
            }
            if !refusal.blocking_tests.is_empty() {
                refusal.reasons.push("TESTS_NOT_PASSING");
            }
            if !failing_ci.is_empty() {
                refusal.reasons.push("CI_EVIDENCE_NOT_PASSING");
                refusal.blocking_tests.extend(failing_ci);
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
            status_set_by: None,
            status_set_at: None,
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
                ci_evidence: None,
                open_blockers: &[],
            },
        )
    }

    fn row(test: &AcceptanceTest, evidence: Evidence) -> TestRow {
        TestRow {
            id: test.id.clone(),
            key: Some("AT-1".into()),
            title: test.title.clone(),
            manual_status: test.status,
            manual_by: None,
            manual_at: None,
            updated_at: test.updated_at,
            evidence,
            result: None,
        }
    }

    #[test]
    fn done_waits_for_open_blockers_and_names_them() {
        let invest = analysis(true);
        let tests = [test_with(TestStatus::Pass)];
        let blocker = LinkedStory {
            id: 7,
            key: "SHOP-7".into(),
            title: "Payments".into(),
            status: InProgress,
        };
        let done = |open: &[LinkedStory]| {
            check_transition(
                InProgress,
                Done,
                &TransitionContext {
                    invest: &invest,
                    accept_warnings: false,
                    tests: &tests,
                    children: &[],
                    blocked_from: None,
                    ci_evidence: None,
                    open_blockers: open,
                },
            )
        };
        let refusal = done(std::slice::from_ref(&blocker)).unwrap_err();
        assert_eq!(refusal.reasons, ["OPEN_BLOCKERS"]);
        assert_eq!(refusal.blocking_stories, [blocker]);
        assert!(done(&[]).is_ok());
    }

    #[test]
    fn with_the_ci_gate_a_reported_test_must_pass_in_ci_and_an_uncovered_one_by_hand() {
        let invest = analysis(true);
        let passed_by_hand = [AcceptanceTest {
            key: Some("AT-1".into()),
            ..test_with(TestStatus::Pass)
        }];
        let done = |tests: &[AcceptanceTest], rows: &[TestRow]| {
            check_transition(
                InProgress,
                Done,
                &TransitionContext {
                    invest: &invest,
                    accept_warnings: false,
                    tests,
                    children: &[],
                    blocked_from: None,
                    ci_evidence: Some(rows),
                    open_blockers: &[],
                },
            )
        };
        // The manual Pass does not outweigh CI's Fail, Stale or Suspect.
        for evidence in [
            Evidence::Fail,
            Evidence::Stale,
            Evidence::Suspect,
            Evidence::NotRun,
        ] {
            let refused = done(&passed_by_hand, &[row(&passed_by_hand[0], evidence)]).unwrap_err();
            assert_eq!(refused.reasons, ["CI_EVIDENCE_NOT_PASSING"], "{evidence:?}");
            assert_eq!(refused.blocking_tests[0].key.as_deref(), Some("AT-1"));
            assert_eq!(refused.blocking_tests[0].evidence, Some(evidence));
        }
        // A Pass in CI counts even where nobody clicked Pass.
        let draft = [test_with(TestStatus::Draft)];
        assert!(done(&draft, &[row(&draft[0], Evidence::Pass)]).is_ok());
        // Uncovered: the manual status decides, as without the gate.
        let refused = done(&draft, &[row(&draft[0], Evidence::Uncovered)]).unwrap_err();
        assert_eq!(refused.reasons, ["TESTS_NOT_PASSING"]);
        assert!(
            done(
                &passed_by_hand,
                &[row(&passed_by_hand[0], Evidence::Uncovered)]
            )
            .is_ok()
        );
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
