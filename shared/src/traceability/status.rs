//! What an acceptance test's evidence says, computed here and nowhere else, so the story page,
//! the matrix, the documents and the Done gate never disagree: per test Pass, Fail, Skipped,
//! Stale, Suspect, Not run or Uncovered, and per story OK, NOK, NOT RUN or UNCOVERED.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::report::Outcome;
use crate::model::{AcceptanceTest, TestStatus};

/// One CI result for one acceptance test, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub outcome: Outcome,
    /// The commit the run tested.
    pub commit: String,
    pub recorded_at: DateTime<Utc>,
    /// [`steps_fingerprint`] of the test when the result came in.
    pub steps_fingerprint: String,
    /// The report's test case(s) that carried the key.
    pub case: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    /// The CI run and its attempt (`<run>#<attempt>`), as the report came.
    #[serde(default)]
    pub run: String,
}

/// What a test's evidence says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Evidence {
    Pass,
    Fail,
    Skipped,
    /// The latest result is for another commit than the one the story is judged at.
    Stale,
    /// The Given/When/Then changed after the latest result: it proves an older text.
    Suspect,
    /// CI reported at the commit the story is judged at, without this test.
    #[serde(rename = "Not run")]
    NotRun,
    /// No CI result has ever named the test: its manual Pass/Fail applies.
    Uncovered,
}

impl Evidence {
    /// The word people see.
    pub fn label(self) -> &'static str {
        match self {
            Evidence::Pass => "Pass",
            Evidence::Fail => "Fail",
            Evidence::Skipped => "Skipped",
            Evidence::Stale => "Stale",
            Evidence::Suspect => "Suspect",
            Evidence::NotRun => "Not run",
            Evidence::Uncovered => "Uncovered",
        }
    }
}

/// What a story's tests say together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rollup {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "NOK")]
    Nok,
    #[serde(rename = "NOT RUN")]
    NotRun,
    #[serde(rename = "UNCOVERED")]
    Uncovered,
}

/// A fingerprint of a test's Given/When/Then (not its title or status): a result recorded
/// under another fingerprint is Suspect.
pub fn steps_fingerprint(test: &AcceptanceTest) -> String {
    let mut hasher = Sha256::new();
    for (keyword, steps) in [
        ("given", &test.given),
        ("when", &test.when),
        ("then", &test.then),
    ] {
        for step in steps {
            hasher.update(keyword.as_bytes());
            hasher.update([0]);
            hasher.update(step.as_bytes());
            hasher.update([0]);
        }
    }
    hasher.finalize()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Where the story is judged: the commit CI should have tested (the pull request's head, or
/// after the merge the merged commit), and whether any CI report came for that commit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    pub commit: Option<&'a str>,
    pub reported_at_commit: bool,
}

/// The test's evidence from its latest result.
pub fn evidence(
    test: &AcceptanceTest,
    latest: Option<&TestResult>,
    target: Target<'_>,
) -> Evidence {
    let Some(latest) = latest else {
        return Evidence::Uncovered;
    };
    if latest.steps_fingerprint != steps_fingerprint(test) {
        return Evidence::Suspect;
    }
    if let Some(commit) = target.commit
        && !same_commit(commit, &latest.commit)
    {
        return if target.reported_at_commit {
            Evidence::NotRun
        } else {
            Evidence::Stale
        };
    }
    match latest.outcome {
        Outcome::Passed => Evidence::Pass,
        Outcome::Failed => Evidence::Fail,
        Outcome::Skipped => Evidence::Skipped,
    }
}

/// A full SHA and an abbreviation of it are one commit.
fn same_commit(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 7
        && long
            .to_ascii_lowercase()
            .starts_with(&short.to_ascii_lowercase())
}

/// The story's rollup from each test's evidence and manual status: NOK when any fails (by CI,
/// or by hand where uncovered); UNCOVERED when it has no tests or one is uncovered and not
/// passed by hand; NOT RUN when any lacks a current result; OK otherwise.
pub fn rollup<'a>(tests: impl IntoIterator<Item = (Evidence, &'a AcceptanceTest)>) -> Rollup {
    let (mut any, mut failing, mut uncovered, mut not_run) = (false, false, false, false);
    for (evidence, test) in tests {
        any = true;
        match evidence {
            Evidence::Fail => failing = true,
            Evidence::Uncovered => match test.status {
                TestStatus::Fail => failing = true,
                TestStatus::Pass => {}
                TestStatus::Draft | TestStatus::Ready => uncovered = true,
            },
            Evidence::Stale | Evidence::Suspect | Evidence::NotRun | Evidence::Skipped => {
                not_run = true;
            }
            Evidence::Pass => {}
        }
    }
    if failing {
        Rollup::Nok
    } else if uncovered || !any {
        Rollup::Uncovered
    } else if not_run {
        Rollup::NotRun
    } else {
        Rollup::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(status: TestStatus) -> AcceptanceTest {
        AcceptanceTest {
            story_id: 1,
            id: "t1".into(),
            key: Some("AT-1".into()),
            title: "Export".into(),
            given: vec!["3 stories".into()],
            when: vec!["the PM exports".into()],
            then: vec!["a CSV with 3 rows".into()],
            status,
            status_set_by: None,
            status_set_at: None,
            needs_review: false,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn result(outcome: Outcome, commit: &str, of: &AcceptanceTest) -> TestResult {
        TestResult {
            outcome,
            commit: commit.into(),
            recorded_at: Utc::now(),
            steps_fingerprint: steps_fingerprint(of),
            case: "tests::export".into(),
            message: None,
            run_url: None,
            run: "77#1".into(),
        }
    }

    const HEAD: &str = "aaaaaaa1111111111111111111111111111111111";

    #[test]
    fn each_status_follows_from_the_latest_result_and_the_target() {
        let draft = test(TestStatus::Draft);
        let at_head = Target {
            commit: Some(HEAD),
            reported_at_commit: true,
        };
        assert_eq!(evidence(&draft, None, at_head), Evidence::Uncovered);
        let passed = result(Outcome::Passed, HEAD, &draft);
        assert_eq!(evidence(&draft, Some(&passed), at_head), Evidence::Pass);
        assert_eq!(
            evidence(
                &draft,
                Some(&result(Outcome::Passed, "aaaaaaa", &draft)),
                at_head
            ),
            Evidence::Pass,
            "an abbreviated SHA is the same commit"
        );
        assert_eq!(
            evidence(
                &draft,
                Some(&result(Outcome::Failed, HEAD, &draft)),
                at_head
            ),
            Evidence::Fail
        );
        assert_eq!(
            evidence(
                &draft,
                Some(&result(Outcome::Skipped, HEAD, &draft)),
                at_head
            ),
            Evidence::Skipped
        );
        let older = result(Outcome::Passed, "bbbbbbb", &draft);
        let new_head = Target {
            commit: Some(HEAD),
            reported_at_commit: false,
        };
        assert_eq!(evidence(&draft, Some(&older), new_head), Evidence::Stale);
        assert_eq!(evidence(&draft, Some(&older), at_head), Evidence::NotRun);
        assert_eq!(
            evidence(&draft, Some(&older), Target::default()),
            Evidence::Pass,
            "with no pull request there is nothing to be stale against"
        );
        let mut edited = draft.clone();
        edited.given = vec!["4 stories".into()];
        assert_eq!(evidence(&edited, Some(&passed), at_head), Evidence::Suspect);
        let mut retitled = draft.clone();
        retitled.title = "Export as CSV".into();
        retitled.status = TestStatus::Pass;
        assert_eq!(
            evidence(&retitled, Some(&passed), at_head),
            Evidence::Pass,
            "only the steps make a result suspect"
        );
    }

    #[test]
    fn a_story_rolls_up_the_worst_of_its_tests() {
        let (draft, passed_by_hand, failed_by_hand) = (
            test(TestStatus::Draft),
            test(TestStatus::Pass),
            test(TestStatus::Fail),
        );
        assert_eq!(rollup([]), Rollup::Uncovered);
        assert_eq!(rollup([(Evidence::Pass, &draft)]), Rollup::Ok);
        assert_eq!(
            rollup([
                (Evidence::Uncovered, &passed_by_hand),
                (Evidence::Pass, &draft)
            ]),
            Rollup::Ok
        );
        assert_eq!(
            rollup([(Evidence::Pass, &draft), (Evidence::Stale, &draft)]),
            Rollup::NotRun
        );
        assert_eq!(
            rollup([(Evidence::Uncovered, &draft), (Evidence::Stale, &draft)]),
            Rollup::Uncovered
        );
        assert_eq!(
            rollup([
                (Evidence::Uncovered, &failed_by_hand),
                (Evidence::Pass, &draft)
            ]),
            Rollup::Nok
        );
        assert_eq!(
            rollup([(Evidence::Fail, &draft), (Evidence::Uncovered, &draft)]),
            Rollup::Nok
        );
        assert_eq!(
            serde_json::to_value([Rollup::NotRun, Rollup::Nok]).unwrap(),
            serde_json::json!(["NOT RUN", "NOK"])
        );
        assert_eq!(serde_json::to_value(Evidence::NotRun).unwrap(), "Not run");
    }
}
