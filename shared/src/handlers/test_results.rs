//! POST /projects/{key}/test-results: a CI job's JUnit or Cucumber report, authenticated by a GitHub
//! Actions OIDC token from a repository the project links (the run and commit then come from
//! the token) or by the project's upload token (other CI, forks; the run is named in the query).
//! Not a person: CI has no sign-in. Each result is tied to the acceptance tests its case names
//! (`AT-n`) and recorded once per run, attempt and report.

use std::collections::BTreeMap;

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::http::{Operation, header, json_response, path_parameter, query_parameter};
use crate::ports::{MAX_UNMAPPED_LISTED, ProjectDirectory, RecordedReport, TestEvidence};
use crate::project::Project;
use crate::traceability::cucumber::{read_cucumber_json, read_cucumber_messages};
use crate::traceability::oidc::{ActionsClaims, ActionsOidc, OidcRefusal, repository_is_linked};
use crate::traceability::report::{
    CaseResult, MAX_REPORT_BYTES, Outcome, ReportProblem, read_junit,
};
use crate::traceability::status::TestResult;
use crate::traceability::test_key;

const REPORT_MEDIA_TYPES: &str = "application/xml or text/xml (JUnit), application/x-ndjson \
     (Cucumber Messages) or application/json (Cucumber JSON), gzip allowed";

/// The report formats read, by the body's media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportFormat {
    JUnit,
    CucumberMessages,
    CucumberJson,
}

impl ReportFormat {
    fn of(request: &Request) -> Result<Self> {
        let media = header(request, "content-type")
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase());
        match media.as_deref() {
            Some("application/xml" | "text/xml") => Ok(Self::JUnit),
            Some("application/x-ndjson" | "application/jsonl") => Ok(Self::CucumberMessages),
            Some("application/json") => Ok(Self::CucumberJson),
            _ => Err(Error::UnsupportedMediaType {
                expected: REPORT_MEDIA_TYPES,
            }),
        }
    }

    fn read(self, text: &str) -> std::result::Result<Vec<CaseResult>, ReportProblem> {
        match self {
            Self::JUnit => read_junit(text),
            Self::CucumberMessages => read_cucumber_messages(text),
            Self::CucumberJson => read_cucumber_json(text),
        }
    }
}

/// Upload tokens start with this, so a JWT is never compared with a token hash.
pub const UPLOAD_TOKEN_PREFIX: &str = "aipm_ut_";

pub struct RecordTestResults<G, E> {
    projects: G,
    evidence: E,
    /// GitHub Actions tokens are taken only where the stage verifies them.
    actions: Option<ActionsOidc>,
}

impl<G, E> RecordTestResults<G, E> {
    pub fn new(projects: G, evidence: E) -> Self {
        Self {
            projects,
            evidence,
            actions: None,
        }
    }

    /// The same, also taking GitHub Actions OIDC tokens that `actions` verifies.
    pub fn with_actions_oidc(mut self, actions: Option<ActionsOidc>) -> Self {
        self.actions = actions;
        self
    }
}

/// The run as the uploader names it: the commit tested (required), the run and its attempt,
/// and a link to it.
struct RunNames {
    commit: String,
    run: String,
    attempt: u32,
    run_url: Option<String>,
}

fn run_names(request: &Request) -> Result<RunNames> {
    let invalid = |name: &'static str, reason: &str| Error::InvalidQueryParameter {
        name,
        message: reason.to_owned(),
    };
    let commit = commit_named(request)?
        .ok_or_else(|| invalid("commit", "the tested commit's full SHA, 40 hex digits"))?;
    let run = query_parameter(request, "run").unwrap_or("manual");
    if run.is_empty() || run.len() > 100 || !run.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "run",
            "the CI run's id, up to 100 visible characters",
        ));
    }
    let attempt = match query_parameter(request, "attempt") {
        None => 1,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|attempt| (1..=1000).contains(attempt))
            .ok_or_else(|| invalid("attempt", "the run's attempt, 1 to 1000"))?,
    };
    let run_url = match query_parameter(request, "runUrl") {
        None => None,
        Some(url)
            if url.starts_with("https://")
                && url.len() <= 500
                && !url.contains(char::is_whitespace) =>
        {
            Some(url.to_owned())
        }
        Some(_) => {
            return Err(invalid(
                "runUrl",
                "an https link to the run, up to 500 characters",
            ));
        }
    };
    Ok(RunNames {
        commit,
        run: run.to_owned(),
        attempt,
        run_url,
    })
}

/// The `commit` query parameter, when given: a full SHA, lowercased.
fn commit_named(request: &Request) -> Result<Option<String>> {
    match query_parameter(request, "commit") {
        None => Ok(None),
        Some(sha) if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(sha.to_ascii_lowercase()))
        }
        Some(_) => Err(Error::InvalidQueryParameter {
            name: "commit",
            message: "the tested commit's full SHA, 40 hex digits".into(),
        }),
    }
}

/// The run as an Actions token names it. A `pull_request` run tests GitHub's merge of the head
/// into the base, which no pull request's head is; there the job may name the head it checked
/// out as `commit` (the token still proves the repository and the run).
fn run_from_token(request: &Request, claims: &ActionsClaims) -> Result<RunNames> {
    let pull_request_run = matches!(
        claims.event_name.as_deref(),
        Some("pull_request" | "pull_request_target")
    );
    let named = commit_named(request)?;
    let commit = match named {
        Some(head) if pull_request_run => head,
        _ => claims.sha.to_ascii_lowercase(),
    };
    let attempt = claims.run_attempt.parse::<u32>().unwrap_or(1);
    Ok(RunNames {
        run_url: Some(format!(
            "https://github.com/{}/actions/runs/{}/attempts/{attempt}",
            claims.repository, claims.run_id
        )),
        commit,
        run: claims.run_id.clone(),
        attempt,
    })
}

/// The report's text, as sent or gzipped, at most [`MAX_REPORT_BYTES`] once unpacked.
fn report_text(request: &Request) -> Result<String> {
    let body = request.body().as_ref();
    let gzipped = header(request, "content-encoding")
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("gzip"));
    let bytes = if gzipped {
        use std::io::Read;
        let mut unpacked = Vec::new();
        let limit = u64::try_from(MAX_REPORT_BYTES + 1).unwrap_or(u64::MAX);
        flate2::read::GzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut unpacked)
            .map_err(|_| Error::ReportMalformed {
                reason: "the body is not gzip".into(),
            })?;
        unpacked
    } else {
        body.to_vec()
    };
    if bytes.len() > MAX_REPORT_BYTES {
        return Err(Error::PayloadTooLarge {
            actual: bytes.len(),
            limit: MAX_REPORT_BYTES,
        });
    }
    String::from_utf8(bytes).map_err(|_| Error::ReportMalformed {
        reason: "the report is not UTF-8".into(),
    })
}

/// Whether `token` is the one whose hash is stored, compared in constant time.
fn token_matches(token: &str, stored_hash: &str) -> bool {
    let presented = crate::project::secret_hash(token);
    presented.len() == stored_hash.len()
        && presented
            .bytes()
            .zip(stored_hash.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// One result per key: the worst outcome of the cases that name it (a failure outweighs a
/// skip, a skip a pass), with the first failure's message.
fn per_key(cases: &[CaseResult]) -> BTreeMap<u32, (Outcome, Vec<&str>, Option<&str>)> {
    let rank = |outcome: Outcome| match outcome {
        Outcome::Passed => 0,
        Outcome::Skipped => 1,
        Outcome::Failed => 2,
    };
    let mut keyed: BTreeMap<u32, (Outcome, Vec<&str>, Option<&str>)> = BTreeMap::new();
    for case in cases {
        for number in &case.keys {
            let entry = keyed
                .entry(*number)
                .or_insert((case.outcome, Vec::new(), None));
            if rank(case.outcome) > rank(entry.0) {
                entry.0 = case.outcome;
            }
            entry.1.push(case.name.as_str());
            if case.outcome == Outcome::Failed && entry.2.is_none() {
                entry.2 = case.message.as_deref();
            }
        }
    }
    keyed
}

impl<G: ProjectDirectory, E> RecordTestResults<G, E> {
    async fn project(&self, project_id: &str) -> Result<Project> {
        self.projects
            .projects(&[project_id.to_owned()])
            .await?
            .into_iter()
            .next()
            .ok_or(Error::UploadTokenInvalid)
    }
}

impl<G: ProjectDirectory, E: TestEvidence> Operation for RecordTestResults<G, E> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = path_parameter(&request, "key").unwrap_or_default();
        let token = header(&request, "authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(Error::UploadTokenInvalid)?;
        let project_id = self
            .projects
            .project_id_for_key(&key)
            .await?
            .ok_or(Error::UploadTokenInvalid)?;
        let (project, names) = if token.starts_with(UPLOAD_TOKEN_PREFIX) {
            let stored = self.evidence.upload_token(&project_id).await?;
            if !stored.is_some_and(|stored| token_matches(token, &stored.hash)) {
                return Err(Error::UploadTokenInvalid);
            }
            (self.project(&project_id).await?, run_names(&request)?)
        } else {
            let actions = self.actions.as_ref().ok_or(Error::UploadTokenInvalid)?;
            let claims = actions
                .verify(token)
                .await
                .map_err(|refusal| match refusal {
                    OidcRefusal::Malformed => Error::CiTokenInvalid {
                        reason: "neither an upload token nor a GitHub Actions token".into(),
                    },
                    OidcRefusal::UnknownKey => Error::CiTokenInvalid {
                        reason: "not signed by a key GitHub publishes".into(),
                    },
                    OidcRefusal::Invalid(reason) => Error::CiTokenInvalid { reason },
                    OidcRefusal::KeysUnavailable(message) => Error::DependencyUnavailable {
                        dependency: "GitHub Actions' signing keys",
                        message,
                    },
                })?;
            let project = self.project(&project_id).await?;
            if !repository_is_linked(&claims, &project) {
                return Err(Error::CiRepositoryNotLinked {
                    repository: claims.repository,
                });
            }
            let names = run_from_token(&request, &claims)?;
            (project, names)
        };
        let format = ReportFormat::of(&request)?;
        let text = report_text(&request)?;
        let cases = format.read(&text).map_err(|problem| match problem {
            ReportProblem::TooLarge | ReportProblem::TooManyCases => Error::PayloadTooLarge {
                actual: text.len(),
                limit: MAX_REPORT_BYTES,
            },
            ReportProblem::Malformed(reason) => Error::ReportMalformed { reason },
        })?;
        let tests = self.evidence.keyed_tests(project.ordinal).await?;
        let tests: std::collections::HashMap<u32, _> =
            tests.iter().map(|test| (test.number, test)).collect();
        let keyed = per_key(&cases);
        let unknown: Vec<String> = keyed
            .keys()
            .filter(|number| !tests.contains_key(number))
            .map(|number| test_key(*number))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::UnknownTestKeys { keys: unknown });
        }
        let now = Utc::now();
        let results: Vec<(u32, TestResult)> = keyed
            .iter()
            .filter_map(|(number, (outcome, names_of_cases, message))| {
                let test = tests.get(number)?;
                Some((
                    *number,
                    TestResult {
                        outcome: *outcome,
                        commit: names.commit.clone(),
                        recorded_at: now,
                        steps_fingerprint: test.steps_fingerprint.clone(),
                        case: names_of_cases.join(", "),
                        message: message.map(str::to_owned),
                        run_url: names.run_url.clone(),
                        run: format!("{}#{}", names.run, names.attempt),
                    },
                ))
            })
            .collect();
        let unmapped: Vec<String> = cases
            .iter()
            .filter(|case| case.keys.is_empty())
            .map(|case| case.name.clone())
            .collect();
        let report_hash = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
        let report = RecordedReport {
            project_id: project.id.clone(),
            run_key: format!("{}#{}#{report_hash}", names.run, names.attempt),
            commit: names.commit.clone(),
            run_url: names.run_url.clone(),
            recorded_at: now,
            cases: cases.len(),
            unmapped: unmapped.iter().take(MAX_UNMAPPED_LISTED).cloned().collect(),
        };
        let recorded = self.evidence.record(&report, &results).await?;
        tracing::info!(
            project = %project.id,
            run = %report.run_key,
            cases = cases.len(),
            mapped = results.len(),
            duplicate = !recorded,
            "test report received"
        );
        let status = if recorded {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(json_response(
            status,
            &json!({
                "recorded": recorded,
                "commit": report.commit,
                "cases": cases.len(),
                "results": results
                    .iter()
                    .map(|(number, result)| json!({"key": test_key(*number), "outcome": result.outcome}))
                    .collect::<Vec<_>>(),
                "unmapped": unmapped.len(),
                "unmappedCases": report.unmapped,
            }),
        ))
    }
}

#[cfg(test)]
mod tests;
