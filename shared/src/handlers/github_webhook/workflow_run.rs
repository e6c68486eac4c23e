//! `workflow_run` deliveries: a completed CI run on a branch AIPM opened is kept as its story's
//! latest run, so the matrix can say "CI ran, no per-test evidence" when the run uploaded no
//! report. Runs on other branches, or from a repository the story's task does not work in, are
//! answered 204 and store nothing.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::payload::Repository;
use crate::error::{Error, Result};
use crate::ports::CiRun;

#[derive(Debug, Deserialize)]
pub struct WorkflowRunEvent {
    pub action: String,
    pub workflow_run: WorkflowRun,
    pub repository: Repository,
}

#[derive(Debug, Deserialize)]
pub struct WorkflowRun {
    pub id: u64,
    #[serde(default = "first_attempt")]
    pub run_attempt: u32,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub head_branch: Option<String>,
    pub head_sha: String,
    #[serde(default)]
    pub conclusion: Option<String>,
    pub html_url: String,
    #[serde(default)]
    pub pull_requests: Vec<PullRequestRef>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
pub struct PullRequestRef {
    pub number: u64,
}

fn first_attempt() -> u32 {
    1
}

impl WorkflowRunEvent {
    pub fn parse(body: &[u8]) -> Result<Self> {
        serde_json::from_slice(body).map_err(|error| Error::InvalidJson(error.to_string()))
    }

    /// The run as a story's CI run: only a completed run with a full commit SHA and an https
    /// link (what GitHub sends; anything else is not kept).
    pub fn completed_run(&self, story_id: u64) -> Option<CiRun> {
        let run = &self.workflow_run;
        let sha_ok =
            run.head_sha.len() == 40 && run.head_sha.bytes().all(|b| b.is_ascii_hexdigit());
        if self.action != "completed" || !sha_ok || !run.html_url.starts_with("https://") {
            return None;
        }
        Some(CiRun {
            story_id,
            run_id: run.id,
            attempt: run.run_attempt,
            name: run.name.chars().take(100).collect(),
            conclusion: run
                .conclusion
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
            commit: run.head_sha.to_ascii_lowercase(),
            url: run.html_url.chars().take(500).collect(),
            pr_number: run.pull_requests.first().map(|pr| pr.number),
            completed_at: run.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workflow_run delivery as GitHub documents it, cut to what is read.
    fn delivery(action: &str, sha: &str) -> Vec<u8> {
        serde_json::json!({
            "action": action,
            "workflow_run": {
                "id": 30433642, "name": "CI", "run_attempt": 2, "status": "completed",
                "head_branch": "aipm/SHOP-3-saved-cards", "head_sha": sha,
                "conclusion": "success",
                "html_url": "https://github.com/acme/shop/actions/runs/30433642",
                "pull_requests": [{"number": 7, "head": {"ref": "aipm/SHOP-3-saved-cards"}}],
                "updated_at": "2026-12-06T10:00:00Z"
            },
            "repository": {"id": 101, "full_name": "acme/shop"}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_completed_run_is_kept_with_its_commit_pull_request_and_link() {
        let sha = "0123456789ABCDEF0123456789abcdef01234567";
        let event = WorkflowRunEvent::parse(&delivery("completed", sha)).expect("parses");
        let run = event.completed_run(3).expect("kept");
        assert_eq!(run.commit, sha.to_ascii_lowercase());
        assert_eq!(
            (run.run_id, run.attempt, run.pr_number),
            (30433642, 2, Some(7))
        );
        assert_eq!(run.conclusion, "success");
        assert_eq!(
            run.url,
            "https://github.com/acme/shop/actions/runs/30433642"
        );
    }

    #[test]
    fn a_run_in_progress_or_with_a_bad_sha_is_not_kept() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let requested = WorkflowRunEvent::parse(&delivery("requested", sha)).expect("parses");
        assert_eq!(requested.completed_run(3), None);
        let short = WorkflowRunEvent::parse(&delivery("completed", "abc")).expect("parses");
        assert_eq!(short.completed_run(3), None);
        assert!(WorkflowRunEvent::parse(b"{\"action\": 1}").is_err());
    }
}
