//! The traceability matrix: a project's stories in tree order, each with the commit it is judged
//! at and its tests' evidence, built from what the stores hold by one pure function, so the API,
//! the Done gate and the documents read the same thing.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::parse_test_key;
use super::status::{Evidence, Rollup, Target, TestResult, evidence, rollup};
use crate::model::{AcceptanceTest, Story, StoryStatus, TestStatus};

/// Where a story is judged: its merged commit, or its pull request's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryTarget {
    pub commit: String,
    /// True when `commit` is the merged commit, false for a pull request's head.
    pub merged: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
}

/// One acceptance test's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestRow {
    pub id: String,
    pub key: Option<String>,
    pub title: String,
    /// The Pass/Fail set by hand, what counts while the test is Uncovered.
    pub manual_status: TestStatus,
    /// Who set the manual status, and when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub evidence: Evidence,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<TestResult>,
}

/// One story's row with its tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryRow {
    pub id: u64,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    /// 0 for a root; the tree's indentation.
    pub depth: usize,
    /// The narrative, for the documents.
    pub as_a: String,
    pub i_want: String,
    pub so_that: String,
    pub status: StoryStatus,
    pub rollup: Rollup,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<StoryTarget>,
    pub tests: Vec<TestRow>,
    /// The story's latest CI workflow run, when GitHub reported one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ci_run: Option<CiRunRow>,
}

/// A story's latest CI run, and whether any report came for its commit: a run that finished
/// without one is "CI ran, no per-test evidence".
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CiRunRow {
    #[serde(flatten)]
    pub run: crate::ports::CiRun,
    pub reported: bool,
}

/// What the matrix is built from.
pub struct MatrixInputs<'a> {
    pub stories: &'a [Story],
    pub tests: &'a [AcceptanceTest],
    /// Each key's latest result.
    pub latest: &'a HashMap<u32, TestResult>,
    pub targets: &'a HashMap<u64, StoryTarget>,
    /// Target commits (and CI runs' commits) some report was for.
    pub reported: &'a HashSet<String>,
    /// Each story's latest CI run.
    pub ci_runs: &'a HashMap<u64, crate::ports::CiRun>,
}

/// The rows of one test of a story, judged at the story's target.
pub fn test_row(
    test: &AcceptanceTest,
    latest: &HashMap<u32, TestResult>,
    target: Option<&StoryTarget>,
    reported: &HashSet<String>,
) -> TestRow {
    let result = test
        .key
        .as_deref()
        .and_then(parse_test_key)
        .and_then(|number| latest.get(&number));
    let commit = target.map(|target| target.commit.as_str());
    let judged = evidence(
        test,
        result,
        Target {
            commit,
            reported_at_commit: commit.is_some_and(|commit| reported.contains(commit)),
        },
    );
    TestRow {
        id: test.id.clone(),
        key: test.key.clone(),
        title: test.title.clone(),
        manual_status: test.status,
        manual_by: test.status_set_by.clone(),
        manual_at: test.status_set_at,
        updated_at: test.updated_at,
        evidence: judged,
        result: result.cloned(),
    }
}

/// The project's stories in tree order (children by id under their parent; a story whose
/// parent is not among them is a root), each with its tests' rows and rollup.
pub fn build(inputs: &MatrixInputs<'_>) -> Vec<StoryRow> {
    let ids: HashSet<u64> = inputs.stories.iter().map(|story| story.id).collect();
    let mut children: BTreeMap<Option<u64>, Vec<&Story>> = BTreeMap::new();
    for story in inputs.stories {
        let parent = story.parent_id.filter(|parent| ids.contains(parent));
        children.entry(parent).or_default().push(story);
    }
    for siblings in children.values_mut() {
        siblings.sort_by_key(|story| story.id);
    }
    let mut tests_of: HashMap<u64, Vec<&AcceptanceTest>> = HashMap::new();
    for test in inputs.tests {
        tests_of.entry(test.story_id).or_default().push(test);
    }
    for tests in tests_of.values_mut() {
        tests.sort_by_key(|test| (test.created_at, test.id.clone()));
    }
    let mut rows = Vec::with_capacity(inputs.stories.len());
    // Depth first without recursion: a deep tree cannot overflow the stack.
    let mut stack: Vec<(&Story, usize)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|story| (*story, 0)).collect())
        .unwrap_or_default();
    while let Some((story, depth)) = stack.pop() {
        let target = inputs.targets.get(&story.id);
        let tests: Vec<TestRow> = tests_of
            .get(&story.id)
            .map(|tests| {
                tests
                    .iter()
                    .map(|test| test_row(test, inputs.latest, target, inputs.reported))
                    .collect()
            })
            .unwrap_or_default();
        let story_tests = tests_of.get(&story.id);
        let judged = rollup(
            tests
                .iter()
                .zip(story_tests.into_iter().flatten())
                .map(|(row, test)| (row.evidence, *test)),
        );
        rows.push(StoryRow {
            id: story.id,
            title: story.title.clone(),
            parent_id: story.parent_id,
            depth,
            as_a: story.as_a.clone(),
            i_want: story.i_want.clone(),
            so_that: story.so_that.clone(),
            status: story.status,
            rollup: judged,
            target: target.cloned(),
            tests,
            ci_run: inputs.ci_runs.get(&story.id).map(|run| CiRunRow {
                run: run.clone(),
                reported: inputs.reported.contains(&run.commit),
            }),
        });
        if let Some(kids) = children.get(&Some(story.id)) {
            stack.extend(kids.iter().rev().map(|kid| (*kid, depth + 1)));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceability::report::Outcome;
    use crate::traceability::status::steps_fingerprint;

    fn story(id: u64, parent: Option<u64>) -> Story {
        crate::model::NewStory {
            parent_id: parent,
            title: format!("story {id}"),
            as_a: "a PM".into(),
            i_want: "x".into(),
            so_that: "y".into(),
            description: String::new(),
            components: Vec::new(),
            story_point: None,
            assignee_email: None,
            created_by: None,
        }
        .into_story(id, Utc::now())
    }

    fn test(story_id: u64, number: u32) -> AcceptanceTest {
        AcceptanceTest {
            story_id,
            id: format!("t{number}"),
            key: Some(format!("AT-{number}")),
            title: format!("test {number}"),
            given: vec!["g".into()],
            when: vec!["w".into()],
            then: vec!["t".into()],
            status: TestStatus::Draft,
            status_set_by: None,
            status_set_at: None,
            needs_review: false,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn result(of: &AcceptanceTest, outcome: Outcome, commit: &str) -> TestResult {
        TestResult {
            outcome,
            commit: commit.into(),
            recorded_at: Utc::now(),
            steps_fingerprint: steps_fingerprint(of),
            case: "case".into(),
            message: None,
            run_url: None,
            run: "1#1".into(),
        }
    }

    const HEAD: &str = "1111111111111111111111111111111111111111";

    #[test]
    fn stories_come_in_tree_order_with_each_tests_evidence_at_its_target() {
        let stories = [
            story(3, Some(1)),
            story(1, None),
            story(2, Some(1)),
            story(4, None),
            story(5, Some(99)),
        ];
        let tests = [test(2, 1), test(2, 2), test(3, 3)];
        let latest = HashMap::from([
            (1, result(&tests[0], Outcome::Passed, HEAD)),
            (2, result(&tests[1], Outcome::Failed, HEAD)),
        ]);
        let targets = HashMap::from([(
            2,
            StoryTarget {
                commit: HEAD.into(),
                merged: false,
                pr_number: Some(7),
                pr_url: None,
            },
        )]);
        let rows = build(&MatrixInputs {
            stories: &stories,
            tests: &tests,
            latest: &latest,
            targets: &targets,
            reported: &HashSet::from([HEAD.to_owned()]),
            ci_runs: &HashMap::new(),
        });
        let order: Vec<(u64, usize)> = rows.iter().map(|row| (row.id, row.depth)).collect();
        assert_eq!(order, [(1, 0), (2, 1), (3, 1), (4, 0), (5, 0)]);
        let two = &rows[1];
        assert_eq!(
            two.tests.iter().map(|t| t.evidence).collect::<Vec<_>>(),
            [Evidence::Pass, Evidence::Fail]
        );
        assert_eq!(two.rollup, Rollup::Nok);
        assert_eq!(rows[2].tests[0].evidence, Evidence::Uncovered);
        assert_eq!(rows[2].rollup, Rollup::Uncovered);
        assert_eq!(rows[0].rollup, Rollup::Uncovered, "no tests at all");
    }
}
