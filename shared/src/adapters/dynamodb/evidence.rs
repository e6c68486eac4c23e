//! CI evidence in DynamoDB. Upload tokens, reports and results live in the projects table:
//! `pk = project#<id>, sk = uploadtoken` (the token's hash), `pk = reports#<id>, sk = <run key>`
//! (one per run, attempt and report), `pk = result#<id>#<n>, sk = <recorded at>#<run key>`
//! (a key's results, newest last), `pk = latest#<id>, sk = <n>` (each key's latest result, so
//! the matrix reads a project's evidence in one Query), `pk = commits#<id>, sk = <sha>` (the
//! commits some report was for), `pk = recent#<id>, sk = <recorded at>#<run key>` (the reports
//! again in time order, newest read first, for their unmapped cases) and
//! `pk = ciruns#<id>, sk = <story id>` (each story's latest CI workflow run, reported or not). Keyed tests are found through the acceptance-tests table's
//! sparse `keyOf-index`.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};

use super::acceptance_tests::KEY_INDEX;
use super::projects::{Item, key, with_key};
use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::model::AcceptanceTest;
use crate::ports::{CiRun, RecordedReport, TestEvidence, UploadToken};
use crate::traceability::status::TestResult;

const EVIDENCE: &str = "projects table";
const TESTS: &str = "acceptance tests table";
/// A CI run's completion as a number, so a late delivery of an older run is told apart.
const COMPLETED_MILLIS: &str = "completedMillis";

#[derive(Debug, Clone)]
pub struct DynamoTestEvidence {
    client: Client,
    projects_table: String,
    tests_table: String,
}

impl DynamoTestEvidence {
    pub fn new(
        client: Client,
        projects_table: impl Into<String>,
        tests_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            projects_table: projects_table.into(),
            tests_table: tests_table.into(),
        }
    }

    fn report_key(report: &RecordedReport) -> Item {
        key(
            format!("reports#{}", report.project_id),
            report.run_key.clone(),
        )
    }

    fn report_item(report: &RecordedReport) -> ReportItem<'_> {
        ReportItem {
            commit: &report.commit,
            run_url: report.run_url.as_deref(),
            recorded_at: report.recorded_at,
            cases: report.cases,
            unmapped: &report.unmapped,
        }
    }

    /// Every item of one partition of the projects table, page by page.
    async fn whole_partition(&self, pk: String) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .partition(pk.clone())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| sdk_error(EVIDENCE, error))?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The last `limit` items of one partition, by sort key (newest first where it starts with
    /// a time).
    async fn newest(&self, pk: String, limit: usize) -> Result<Vec<Item>> {
        let output = self
            .partition(pk)
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|error| sdk_error(EVIDENCE, error))?;
        Ok(output.items.unwrap_or_default())
    }

    /// A Query of one partition of the projects table.
    fn partition(
        &self,
        pk: String,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.projects_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
    }

    async fn report_recorded(&self, report: &RecordedReport) -> Result<bool> {
        let output = self
            .client
            .get_item()
            .table_name(&self.projects_table)
            .set_key(Some(Self::report_key(report)))
            .consistent_read(true)
            .projection_expression("pk")
            .send()
            .await
            .map_err(|error| sdk_error(EVIDENCE, error))?;
        Ok(output.item.is_some())
    }
}

fn token_key(project_id: &str) -> Item {
    key(format!("project#{project_id}"), "uploadtoken".into())
}

fn put(item: Item) -> Result<WriteRequest> {
    Ok(WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|error| Error::Internal(error.to_string()))?,
        )
        .build())
}

fn result_of(item: Item) -> Result<TestResult> {
    serde_dynamo::from_item(item)
        .map_err(|error| Error::Internal(format!("reading a test result: {error}")))
}

/// What a report item holds besides its key.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportItem<'a> {
    commit: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_url: Option<&'a str>,
    recorded_at: chrono::DateTime<chrono::Utc>,
    cases: usize,
    unmapped: &'a [String],
}

/// A report item as read back.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredReport {
    sk: String,
    commit: String,
    #[serde(default)]
    run_url: Option<String>,
    recorded_at: chrono::DateTime<chrono::Utc>,
    cases: usize,
    #[serde(default)]
    unmapped: Vec<String>,
}

impl TestEvidence for DynamoTestEvidence {
    async fn upload_token(&self, project_id: &str) -> Result<Option<UploadToken>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.projects_table)
            .set_key(Some(token_key(project_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(EVIDENCE, error))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let text = |name: &str| item.get(name).and_then(|value| value.as_s().ok()).cloned();
        Ok(text("tokenHash").map(|hash| UploadToken {
            hash,
            issued_at: text("issuedAt")
                .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
                .map_or_else(chrono::Utc::now, |at| at.with_timezone(&chrono::Utc)),
            issued_by: text("issuedBy").unwrap_or_default(),
        }))
    }

    async fn set_upload_token(
        &self,
        project_id: &str,
        token: Option<&UploadToken>,
    ) -> Result<bool> {
        let Some(token) = token else {
            let output = self
                .client
                .delete_item()
                .table_name(&self.projects_table)
                .set_key(Some(token_key(project_id)))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
                .send()
                .await
                .map_err(|error| sdk_error(EVIDENCE, error))?;
            return Ok(output.attributes.is_some());
        };
        let mut item = token_key(project_id);
        item.insert("tokenHash".into(), AttributeValue::S(token.hash.clone()));
        item.insert(
            "issuedAt".into(),
            AttributeValue::S(token.issued_at.to_rfc3339()),
        );
        item.insert(
            "issuedBy".into(),
            AttributeValue::S(token.issued_by.clone()),
        );
        self.client
            .put_item()
            .table_name(&self.projects_table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|error| sdk_error(EVIDENCE, error))?;
        Ok(true)
    }

    async fn project_tests(&self, ordinal: u32) -> Result<Vec<AcceptanceTest>> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.tests_table)
                .index_name(KEY_INDEX)
                .key_condition_expression("keyOf = :ordinal")
                .expression_attribute_values(":ordinal", AttributeValue::N(ordinal.to_string()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| sdk_error(TESTS, error))?;
            for item in output.items.unwrap_or_default() {
                found.push(serde_dynamo::from_item(item).map_err(|error| {
                    Error::Internal(format!("reading an acceptance test: {error}"))
                })?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    async fn record(&self, report: &RecordedReport, results: &[(u32, TestResult)]) -> Result<bool> {
        // The results first, the report last: a retry after a failure in between writes the
        // results again (a duplicate in a key's history, never a lost result); a retry after
        // the report finds it and writes nothing.
        if self.report_recorded(report).await? {
            return Ok(false);
        }
        let stamp = report.recorded_at.format("%Y-%m-%dT%H:%M:%S%.9fZ");
        let mut writes = Vec::with_capacity(results.len());
        for (number, result) in results {
            let item = with_key(
                result,
                key(
                    format!("result#{}#{number}", report.project_id),
                    format!("{stamp}#{}", report.run_key),
                ),
            )?;
            writes.push(put(item)?);
            let latest = with_key(
                result,
                key(format!("latest#{}", report.project_id), number.to_string()),
            )?;
            writes.push(put(latest)?);
        }
        let mut commit = key(
            format!("commits#{}", report.project_id),
            report.commit.clone(),
        );
        commit.insert("recordedAt".into(), AttributeValue::S(stamp.to_string()));
        writes.push(put(commit)?);
        let recent = with_key(
            &Self::report_item(report),
            key(
                format!("recent#{}", report.project_id),
                format!("{stamp}#{}", report.run_key),
            ),
        )?;
        writes.push(put(recent)?);
        super::batch_write(&self.client, &self.projects_table, writes, EVIDENCE).await?;
        let item = with_key(&Self::report_item(report), Self::report_key(report))?;
        let put = self
            .client
            .put_item()
            .table_name(&self.projects_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        super::put_condition_held(EVIDENCE, put)
    }

    async fn latest_results(&self, project_id: &str) -> Result<HashMap<u32, TestResult>> {
        let mut latest = HashMap::new();
        for item in self.whole_partition(format!("latest#{project_id}")).await? {
            let number = item
                .get("sk")
                .and_then(|sk| sk.as_s().ok())
                .and_then(|sk| sk.parse::<u32>().ok());
            if let Some(number) = number {
                latest.insert(number, result_of(item)?);
            }
        }
        Ok(latest)
    }

    async fn history(
        &self,
        project_id: &str,
        number: u32,
        limit: usize,
    ) -> Result<Vec<TestResult>> {
        self.newest(format!("result#{project_id}#{number}"), limit)
            .await?
            .into_iter()
            .map(result_of)
            .collect()
    }

    async fn reported_commits(
        &self,
        project_id: &str,
        commits: &[String],
    ) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        let unique: HashSet<&String> = commits.iter().collect();
        let unique: Vec<&String> = unique.into_iter().collect();
        for chunk in unique.chunks(100) {
            let mut keys = KeysAndAttributes::builder().projection_expression("sk");
            for commit in chunk {
                keys = keys.keys(key(format!("commits#{project_id}"), (*commit).clone()));
            }
            let keys = keys
                .build()
                .map_err(|error| Error::Internal(error.to_string()))?;
            let mut request = HashMap::from([(self.projects_table.clone(), keys)]);
            // Keys DynamoDB leaves unprocessed are asked for again, a few rounds at most.
            for _ in 0..5 {
                let output = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(request))
                    .send()
                    .await
                    .map_err(|error| sdk_error(EVIDENCE, error))?;
                for item in output
                    .responses
                    .and_then(|mut tables| tables.remove(&self.projects_table))
                    .unwrap_or_default()
                {
                    if let Some(sk) = item.get("sk").and_then(|sk| sk.as_s().ok()) {
                        found.insert(sk.clone());
                    }
                }
                request = output.unprocessed_keys.unwrap_or_default();
                if request.is_empty() {
                    break;
                }
            }
        }
        Ok(found)
    }

    async fn recent_reports(&self, project_id: &str, limit: usize) -> Result<Vec<RecordedReport>> {
        self.newest(format!("recent#{project_id}"), limit)
            .await?
            .into_iter()
            .map(|item| {
                let stored: StoredReport = serde_dynamo::from_item(item)
                    .map_err(|error| Error::Internal(format!("reading a report: {error}")))?;
                // `<recorded at>#<run key>`: the stamp holds no `#`.
                let run_key = stored
                    .sk
                    .split_once('#')
                    .map(|(_, run_key)| run_key.to_owned())
                    .unwrap_or_default();
                Ok(RecordedReport {
                    project_id: project_id.to_owned(),
                    run_key,
                    commit: stored.commit,
                    run_url: stored.run_url,
                    recorded_at: stored.recorded_at,
                    cases: stored.cases,
                    unmapped: stored.unmapped,
                })
            })
            .collect()
    }

    async fn record_ci_run(&self, project_id: &str, run: &CiRun) -> Result<()> {
        let completed = AttributeValue::N(run.completed_at.timestamp_millis().to_string());
        let mut item = with_key(
            run,
            key(format!("ciruns#{project_id}"), run.story_id.to_string()),
        )?;
        item.insert(COMPLETED_MILLIS.into(), completed.clone());
        // An older run arriving late fails the condition and changes nothing.
        let outcome = self
            .client
            .put_item()
            .table_name(&self.projects_table)
            .set_item(Some(item))
            .condition_expression(format!(
                "attribute_not_exists(pk) OR {COMPLETED_MILLIS} <= :completed"
            ))
            .expression_attribute_values(":completed", completed)
            .send()
            .await;
        super::put_condition_held(EVIDENCE, outcome).map(|_| ())
    }

    async fn ci_runs(&self, project_id: &str) -> Result<HashMap<u64, CiRun>> {
        let mut runs = HashMap::new();
        for item in self.whole_partition(format!("ciruns#{project_id}")).await? {
            let run: CiRun = serde_dynamo::from_item(item)
                .map_err(|error| Error::Internal(format!("reading a CI run: {error}")))?;
            runs.insert(run.story_id, run);
        }
        Ok(runs)
    }
}
