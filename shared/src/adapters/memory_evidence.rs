//! CI evidence in memory, for unit tests: upload tokens, keyed tests, and recorded reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::ports::{KeyedTest, RecordedReport, TestEvidence};
use crate::traceability::status::TestResult;

#[derive(Debug, Default)]
struct EvidenceState {
    token_hashes: HashMap<String, String>,
    tests: Vec<(u32, KeyedTest)>,
    reports: Vec<RecordedReport>,
    results: Vec<(String, u32, TestResult)>,
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
    pub fn set_upload_token(&self, project_id: &str, token: &str) {
        self.lock().token_hashes.insert(
            project_id.to_owned(),
            hex::encode(Sha256::digest(token.as_bytes())),
        );
    }

    pub fn add_keyed_test(&self, ordinal: u32, test: KeyedTest) {
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
    async fn upload_token_hash(&self, project_id: &str) -> Result<Option<String>> {
        Ok(self.lock().token_hashes.get(project_id).cloned())
    }

    async fn keyed_tests(&self, ordinal: u32) -> Result<Vec<KeyedTest>> {
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
}
