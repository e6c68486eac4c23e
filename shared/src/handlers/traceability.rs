//! GET /projects/{key}/traceability: the traceability matrix (stories in tree order, each with
//! the commit it is judged at and each test's evidence); with `story`, that story's subtree and
//! its runs × tests.

use std::collections::{BTreeMap, HashMap, HashSet};

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::projects::project_key;
use crate::http::{Operation, json_response, query_parameter};
use crate::model::{AcceptanceTest, Story};
use crate::pagination::{MAX_PAGE_SIZE, StoryListQuery};
use crate::ports::{
    CiRun, CodeTaskRepository, ProjectDirectory, RecordedReport, StoryRepository, TestEvidence,
};
use crate::project::Project;
use crate::traceability::matrix::{MatrixInputs, StoryRow, StoryTarget, TestRow, build, test_row};
use crate::traceability::parse_test_key;
use crate::traceability::status::TestResult;

/// Stories one matrix holds at most; a larger project's answer says `truncated`.
pub const MAX_MATRIX_STORIES: usize = 5_000;
/// Results read per test for the runs × tests view, and runs shown.
pub const RUNS_SHOWN: usize = 20;
/// Reports read for the unmapped test cases (those at the newest commit count).
const RECENT_REPORTS: usize = 10;
/// Stories whose code tasks are read at once to find their pull request's head.
const TASK_READS_IN_FLIGHT: usize = 8;

pub struct GetTraceability<S, K, E, G> {
    stories: S,
    tasks: K,
    evidence: E,
    gate: Gate<G>,
}

impl<S, K, E, G> GetTraceability<S, K, E, G> {
    pub fn new(stories: S, tasks: K, evidence: E, gate: Gate<G>) -> Self {
        Self {
            stories,
            tasks,
            evidence,
            gate,
        }
    }
}

/// Every story of the project, page by page, at most [`MAX_MATRIX_STORIES`]; true when more.
pub async fn project_stories<S: StoryRepository>(
    stories: &S,
    numbering: crate::project::StoryNumbering,
) -> Result<(Vec<Story>, bool)> {
    let mut query = StoryListQuery {
        numbering,
        limit: MAX_PAGE_SIZE,
        ..StoryListQuery::default()
    };
    let mut all = Vec::new();
    loop {
        let page = stories.list(&query).await?;
        all.extend(page.items);
        if all.len() >= MAX_MATRIX_STORIES {
            all.truncate(MAX_MATRIX_STORIES);
            return Ok((all, page.next.is_some()));
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok((all, false)),
        }
    }
}

/// The commit a story is judged at: its merged commit once merged, else the head its newest
/// code task pushed to the pull request.
pub async fn story_target<K: CodeTaskRepository>(
    tasks: &K,
    story: &Story,
) -> Result<Option<StoryTarget>> {
    if let Some(merge) = &story.merge
        && let Some(commit) = &merge.commit_sha
    {
        return Ok(Some(StoryTarget {
            commit: commit.to_ascii_lowercase(),
            merged: true,
            pr_number: Some(merge.pr_number),
            pr_url: None,
        }));
    }
    let recent = tasks.recent_for_story(story.id).await?;
    Ok(recent.iter().find_map(|task| {
        Some(StoryTarget {
            commit: task.commit_sha.as_deref()?.to_ascii_lowercase(),
            merged: false,
            pr_number: task.pr_number,
            pr_url: task.pr_url.clone(),
        })
    }))
}

/// What a move to Done is judged by besides the tests' manual statuses, and where the CI runs
/// the webhook hears of are kept.
pub trait DoneEvidence: Send + Sync + 'static {
    /// Keeps a completed CI run as its story's latest.
    fn record_run(
        &self,
        project_id: &str,
        run: &CiRun,
    ) -> impl std::future::Future<Output = Result<()>> + Send;

    /// Each test's CI evidence where the project's Done needs it (None where it does not), at
    /// `at` when given (the commit a merge is recording), else at the story's own target.
    fn judge(
        &self,
        project: &Project,
        story: &Story,
        tests: &[AcceptanceTest],
        at: Option<StoryTarget>,
    ) -> impl std::future::Future<Output = Result<Option<Vec<TestRow>>>> + Send;
}

/// Done by the manual statuses alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct WithoutCiGate;

impl DoneEvidence for WithoutCiGate {
    async fn record_run(&self, _: &str, _: &CiRun) -> Result<()> {
        Ok(())
    }

    async fn judge(
        &self,
        _: &Project,
        _: &Story,
        _: &[AcceptanceTest],
        _: Option<StoryTarget>,
    ) -> Result<Option<Vec<TestRow>>> {
        Ok(None)
    }
}

/// Done by CI evidence where the project asks for it ("Done needs CI evidence").
#[derive(Debug, Clone)]
pub struct CiGate<K, E> {
    tasks: K,
    evidence: E,
}

impl<K, E> CiGate<K, E> {
    pub fn new(tasks: K, evidence: E) -> Self {
        Self { tasks, evidence }
    }
}

impl<K: CodeTaskRepository, E: TestEvidence> DoneEvidence for CiGate<K, E> {
    async fn record_run(&self, project_id: &str, run: &CiRun) -> Result<()> {
        self.evidence.record_ci_run(project_id, run).await
    }

    async fn judge(
        &self,
        project: &Project,
        story: &Story,
        tests: &[AcceptanceTest],
        at: Option<StoryTarget>,
    ) -> Result<Option<Vec<TestRow>>> {
        if !project.done_needs_ci_evidence {
            return Ok(None);
        }
        let target = match at {
            Some(at) => Some(at),
            None => story_target(&self.tasks, story).await?,
        };
        let latest = self.evidence.latest_results(&project.id).await?;
        let reported = match &target {
            Some(target) => {
                self.evidence
                    .reported_commits(&project.id, std::slice::from_ref(&target.commit))
                    .await?
            }
            None => HashSet::new(),
        };
        Ok(Some(
            tests
                .iter()
                .map(|test| test_row(test, &latest, target.as_ref(), &reported))
                .collect(),
        ))
    }
}

/// The test cases that name no acceptance test in the newest reports at the newest reported
/// commit (one CI run may upload several: one per job), with those reports; null before any.
fn unmapped(recent: &[RecordedReport]) -> serde_json::Value {
    let Some(newest) = recent.first() else {
        return serde_json::Value::Null;
    };
    let at_commit: Vec<&RecordedReport> = recent
        .iter()
        .filter(|report| report.commit == newest.commit)
        .collect();
    let mut cases: Vec<&str> = Vec::new();
    for report in &at_commit {
        for case in &report.unmapped {
            if !cases.contains(&case.as_str()) {
                cases.push(case);
            }
        }
    }
    json!({
        "commit": newest.commit,
        "cases": cases,
        "reports": at_commit.iter().map(|report| json!({
            // `<run>#<attempt>`, as results name their run (the report's hash is not shown).
            "run": report.run_key.rsplit_once('#').map_or(report.run_key.as_str(), |(run, _)| run),
            "runUrl": report.run_url,
            "recordedAt": report.recorded_at,
            "cases": report.cases,
        })).collect::<Vec<_>>(),
    })
}

/// The rows of `story` and its descendants (rows are in tree order, so they follow it).
fn subtree(rows: Vec<StoryRow>, story: u64) -> Vec<StoryRow> {
    let mut rows = rows.into_iter().skip_while(|row| row.id != story);
    let Some(first) = rows.next() else {
        return Vec::new();
    };
    let depth = first.depth;
    std::iter::once(first)
        .chain(rows.take_while(|row| row.depth > depth))
        .collect()
}

impl<S, K, E, G> Operation for GetTraceability<S, K, E, G>
where
    S: StoryRepository,
    K: CodeTaskRepository,
    E: TestEvidence,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self
            .gate
            .admit(&request, ProjectRef::Key(&key), Action::ViewProject)
            .await?;
        let focus = match query_parameter(&request, "story") {
            None => None,
            Some(raw) => Some(access.story(crate::validation::parse_story_id(raw).map_err(
                |_| Error::InvalidQueryParameter {
                    name: "story",
                    message: "a story id of this project".into(),
                },
            )?)?),
        };
        let project = &access.project;
        let ((stories, truncated), tests, latest, token, ci_runs, recent) = tokio::try_join!(
            project_stories(&self.stories, access.numbering()),
            self.evidence.project_tests(project.ordinal),
            self.evidence.latest_results(&project.id),
            self.evidence.upload_token(&project.id),
            self.evidence.ci_runs(&project.id),
            self.evidence.recent_reports(&project.id, RECENT_REPORTS),
        )?;
        if let Some(id) = focus
            && !stories.iter().any(|story| story.id == id)
        {
            return Err(Error::StoryNotFound { id });
        }
        // Only a story with some CI result or CI run can be judged at a commit; the others are
        // read no further.
        let with_results: HashSet<u64> = tests
            .iter()
            .filter(|test| {
                test.key
                    .as_deref()
                    .and_then(parse_test_key)
                    .is_some_and(|number| latest.contains_key(&number))
            })
            .map(|test| test.story_id)
            .collect();
        let candidates: Vec<&Story> = stories
            .iter()
            .filter(|story| {
                with_results.contains(&story.id)
                    || story.merge.is_some()
                    || ci_runs.contains_key(&story.id)
            })
            .collect();
        let mut targets: HashMap<u64, StoryTarget> = HashMap::new();
        for chunk in candidates.chunks(TASK_READS_IN_FLIGHT) {
            let found = futures::future::try_join_all(
                chunk.iter().map(|story| story_target(&self.tasks, story)),
            )
            .await?;
            targets.extend(
                chunk
                    .iter()
                    .zip(found)
                    .filter_map(|(story, target)| Some((story.id, target?))),
            );
        }
        let commits: Vec<String> = targets
            .values()
            .map(|target| target.commit.clone())
            .chain(ci_runs.values().map(|run| run.commit.clone()))
            .collect();
        let reported = self
            .evidence
            .reported_commits(&project.id, &commits)
            .await?;
        let rows = build(&MatrixInputs {
            stories: &stories,
            tests: &tests,
            latest: &latest,
            targets: &targets,
            reported: &reported,
            ci_runs: &ci_runs,
        });
        let (rows, runs) = match focus {
            Some(id) => {
                let rows = subtree(rows, id);
                let runs = self.runs(&project.id, &rows).await?;
                (rows, Some(runs))
            }
            None => (rows, None),
        };
        let mut body = json!({
            "project": {"key": project.key, "name": project.name},
            "stories": rows,
            "truncated": truncated,
            "uploadToken": token.map(|token| json!({
                "issuedAt": token.issued_at,
                "issuedBy": token.issued_by,
            })),
            "unmapped": unmapped(&recent),
        });
        if let Some(runs) = runs {
            body["runs"] = json!(runs);
        }
        Ok(json_response(StatusCode::OK, &body))
    }
}

impl<S, K, E: TestEvidence, G> GetTraceability<S, K, E, G> {
    /// The latest runs that reported on the rows' tests, newest first, each with every key's
    /// outcome in that run.
    async fn runs(&self, project_id: &str, rows: &[StoryRow]) -> Result<Vec<serde_json::Value>> {
        let keys: Vec<(String, u32)> = rows
            .iter()
            .flat_map(|row| &row.tests)
            .filter_map(|test| {
                let key = test.key.clone()?;
                let number = parse_test_key(&key)?;
                Some((key, number))
            })
            .collect();
        let mut histories: Vec<(String, Vec<TestResult>)> = Vec::new();
        for chunk in keys.chunks(TASK_READS_IN_FLIGHT) {
            let read = futures::future::try_join_all(
                chunk
                    .iter()
                    .map(|(_, number)| self.evidence.history(project_id, *number, RUNS_SHOWN)),
            )
            .await?;
            histories.extend(chunk.iter().map(|(key, _)| key.clone()).zip(read));
        }
        // run → (its first result, key → outcome)
        let mut runs: BTreeMap<String, (TestResult, BTreeMap<String, serde_json::Value>)> =
            BTreeMap::new();
        for (key, history) in histories {
            for result in history {
                let entry = runs
                    .entry(result.run.clone())
                    .or_insert_with(|| (result.clone(), BTreeMap::new()));
                entry.1.insert(key.clone(), json!(result.outcome));
            }
        }
        let mut runs: Vec<_> = runs.into_iter().collect();
        runs.sort_by_key(|(_, (first, _))| std::cmp::Reverse(first.recorded_at));
        Ok(runs
            .into_iter()
            .take(RUNS_SHOWN)
            .map(|(run, (first, outcomes))| {
                json!({
                    "run": run,
                    "commit": first.commit,
                    "runUrl": first.run_url,
                    "recordedAt": first.recorded_at,
                    "results": outcomes,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::RequestExt;
    use lambda_http::http::Method;

    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::memory_evidence::MemoryEvidence;
    use crate::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use crate::handlers::test_support::{as_person, error_code, json, seed_story};
    use crate::http::respond;

    #[tokio::test]
    async fn another_projects_story_and_a_non_member_see_nothing() {
        let store = MemoryStore::new();
        let story = seed_story(&store, "Export", None).await.id;
        let operation = GetTraceability::new(
            store.clone(),
            store,
            MemoryEvidence::default(),
            local_gate_over(MemoryProjects::with_default_project()),
        );
        let ask = |person: &str, story: u64| {
            as_person(
                person,
                Method::GET,
                "/projects/AIPM/traceability",
                "",
                &[("key", "AIPM")],
            )
            .with_query_string_parameters(std::collections::HashMap::from([(
                "story".to_owned(),
                story.to_string(),
            )]))
        };
        let mine = respond(&operation, ask("local-viewer", story)).await;
        assert_eq!(mine.status(), 200);
        assert_eq!(json(&mine)["stories"][0]["id"], story);
        // A story id of the project numbered 1 does not exist from here.
        let guessed = respond(&operation, ask("local-viewer", (1 << 32) + 1)).await;
        assert_eq!(
            (guessed.status().as_u16(), error_code(&guessed)),
            (404, "STORY_NOT_FOUND".to_owned())
        );
        let outsider = respond(&operation, ask("local-outsider", story)).await;
        assert_eq!(outsider.status(), 404);
    }

    #[tokio::test]
    async fn a_ci_run_without_a_report_says_so_until_one_comes_for_its_commit() {
        let store = MemoryStore::new();
        let story = seed_story(&store, "Export", None).await.id;
        let evidence = MemoryEvidence::default();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        evidence
            .record_ci_run(
                "default",
                &CiRun {
                    story_id: story,
                    run_id: 7,
                    attempt: 1,
                    name: "CI".into(),
                    conclusion: "success".into(),
                    commit: commit.into(),
                    url: "https://github.com/acme/shop/actions/runs/7".into(),
                    pr_number: Some(3),
                    completed_at: chrono::Utc::now(),
                },
            )
            .await
            .unwrap();
        let operation = GetTraceability::new(
            store.clone(),
            store,
            evidence.clone(),
            local_gate_over(MemoryProjects::with_default_project()),
        );
        let ask = || {
            as_person(
                "local-viewer",
                Method::GET,
                "/projects/AIPM/traceability",
                "",
                &[("key", "AIPM")],
            )
        };
        let matrix = json(&respond(&operation, ask()).await);
        let run = &matrix["stories"][0]["ciRun"];
        assert_eq!(
            (&run["conclusion"], &run["prNumber"], &run["reported"]),
            (&json!("success"), &json!(3), &json!(false)),
            "{matrix}"
        );
        let report = crate::ports::RecordedReport {
            project_id: "default".into(),
            run_key: "7#1#abc".into(),
            commit: commit.into(),
            run_url: None,
            recorded_at: chrono::Utc::now(),
            cases: 1,
            unmapped: vec!["tests::unrelated".into()],
        };
        evidence.record(&report, &[]).await.unwrap();
        let matrix = json(&respond(&operation, ask()).await);
        assert_eq!(matrix["stories"][0]["ciRun"]["reported"], true, "{matrix}");
        assert_eq!(
            matrix["unmapped"],
            json!({"commit": commit, "cases": ["tests::unrelated"],
                   "reports": [{"run": "7#1", "runUrl": null, "recordedAt": matrix["unmapped"]["reports"][0]["recordedAt"], "cases": 1}]}),
        );
    }
}
