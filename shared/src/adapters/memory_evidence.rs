//! CI evidence in memory, for unit tests: upload tokens, keyed tests, and recorded reports.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;

use crate::error::Result;
use crate::model::AcceptanceTest;
use crate::ports::{CiRun, RecordedReport, TestEvidence, UploadToken};
use crate::traceability::status::TestResult;

#[derive(Debug, Default)]
struct EvidenceState {
    tokens: HashMap<String, UploadToken>,
    tests: Vec<(u32, AcceptanceTest)>,
    reports: Vec<RecordedReport>,
    results: Vec<(String, u32, TestResult)>,
    runs: HashMap<(String, u64), CiRun>,
}

#[derive(Debug, Clone, Default)]
pub struct MemoryEvidence {
    state: Arc<Mutex<EvidenceState>>,
}

impl MemoryEvidence {
    fn lock(&self) -> MutexGuard<'_, EvidenceState> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Gives the project an upload token (stored, as everywhere, only as its hash).
    pub fn set_token(&self, project_id: &str, token: &str) {
        self.lock().tokens.insert(
            project_id.to_owned(),
            UploadToken {
                hash: crate::project::secret_hash(token),
                issued_at: Utc::now(),
                issued_by: "test".into(),
            },
        );
    }

    /// Adds a keyed test of the project with this ordinal.
    pub fn add_test(&self, ordinal: u32, test: AcceptanceTest) {
        self.lock().tests.push((ordinal, test));
    }

    /// Every report recorded, oldest first.
    pub fn reports(&self) -> Vec<RecordedReport> {
        self.lock().reports.clone()
    }

    /// Every result recorded: project, key number, result.
    pub fn results(&self) -> Vec<(String, u32, TestResult)> {
        self.lock().results.clone()
    }
}

impl TestEvidence for MemoryEvidence {
    async fn upload_token(&self, project_id: &str) -> Result<Option<UploadToken>> {
        Ok(self.lock().tokens.get(project_id).cloned())
    }

    async fn set_upload_token(
        &self,
        project_id: &str,
        token: Option<&UploadToken>,
    ) -> Result<bool> {
        let mut state = self.lock();
        Ok(match token {
            Some(token) => {
                state.tokens.insert(project_id.to_owned(), token.clone());
                true
            }
            None => state.tokens.remove(project_id).is_some(),
        })
    }

    async fn project_tests(&self, ordinal: u32) -> Result<Vec<AcceptanceTest>> {
        Ok(self
            .lock()
            .tests
            .iter()
            .filter(|(of, _)| *of == ordinal)
            .map(|(_, test)| test.clone())
            .collect())
    }

    async fn record(&self, report: &RecordedReport, results: &[(u32, TestResult)]) -> Result<bool> {
        let mut state = self.lock();
        if state
            .reports
            .iter()
            .any(|seen| seen.project_id == report.project_id && seen.run_key == report.run_key)
        {
            return Ok(false);
        }
        state.reports.push(report.clone());
        for (number, result) in results {
            state
                .results
                .push((report.project_id.clone(), *number, result.clone()));
        }
        Ok(true)
    }

    async fn latest_results(&self, project_id: &str) -> Result<HashMap<u32, TestResult>> {
        Ok(self
            .lock()
            .results
            .iter()
            .filter(|(of, _, _)| of == project_id)
            .map(|(_, number, result)| (*number, result.clone()))
            .collect())
    }

    async fn history(
        &self,
        project_id: &str,
        number: u32,
        limit: usize,
    ) -> Result<Vec<TestResult>> {
        Ok(self
            .lock()
            .results
            .iter()
            .rev()
            .filter(|(of, key, _)| of == project_id && *key == number)
            .take(limit)
            .map(|(_, _, result)| result.clone())
            .collect())
    }

    async fn reported_commits(
        &self,
        project_id: &str,
        commits: &[String],
    ) -> Result<HashSet<String>> {
        Ok(self
            .lock()
            .reports
            .iter()
            .filter(|report| report.project_id == project_id && commits.contains(&report.commit))
            .map(|report| report.commit.clone())
            .collect())
    }

    async fn recent_reports(&self, project_id: &str, limit: usize) -> Result<Vec<RecordedReport>> {
        let mut reports: Vec<RecordedReport> = self
            .lock()
            .reports
            .iter()
            .filter(|report| report.project_id == project_id)
            .cloned()
            .collect();
        reports.sort_by_key(|report| std::cmp::Reverse(report.recorded_at));
        reports.truncate(limit);
        Ok(reports)
    }

    async fn record_ci_run(&self, project_id: &str, run: &CiRun) -> Result<()> {
        let mut state = self.lock();
        let kept = state
            .runs
            .entry((project_id.to_owned(), run.story_id))
            .or_insert_with(|| run.clone());
        if kept.completed_at <= run.completed_at {
            *kept = run.clone();
        }
        Ok(())
    }

    async fn ci_runs(&self, project_id: &str) -> Result<HashMap<u64, CiRun>> {
        Ok(self
            .lock()
            .runs
            .iter()
            .filter(|((project, _), _)| project == project_id)
            .map(|((_, story), run)| (*story, run.clone()))
            .collect())
    }
}
