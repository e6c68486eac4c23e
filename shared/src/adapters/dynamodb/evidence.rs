//! CI evidence in DynamoDB. Upload tokens, reports and results live in the projects table:
//! `pk = project#<id>, sk = uploadtoken` (the token's hash), `pk = reports#<id>, sk = <run key>`
//! (one per run, attempt and report) and `pk = result#<id>#<n>, sk = <recorded at>#<run key>`
//! (a key's results, newest last). Keyed tests are found through the acceptance-tests table's
//! sparse `keyOf-index`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use super::acceptance_tests::KEY_INDEX;
use super::projects::{Item, key, with_key};
use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::model::AcceptanceTest;
use crate::ports::{KeyedTest, RecordedReport, TestEvidence};
use crate::traceability::parse_test_key;
use crate::traceability::status::{TestResult, steps_fingerprint};

const EVIDENCE: &str = "projects table";
const TESTS: &str = "acceptance tests table";

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

impl TestEvidence for DynamoTestEvidence {
    async fn upload_token_hash(&self, project_id: &str) -> Result<Option<String>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.projects_table)
            .set_key(Some(key(
                format!("project#{project_id}"),
                "uploadtoken".into(),
            )))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(EVIDENCE, error))?;
        Ok(output
            .item
            .and_then(|item| item.get("tokenHash")?.as_s().ok().cloned()))
    }

    async fn keyed_tests(&self, ordinal: u32) -> Result<Vec<KeyedTest>> {
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
                let test: AcceptanceTest = serde_dynamo::from_item(item).map_err(|error| {
                    Error::Internal(format!("reading an acceptance test: {error}"))
                })?;
                if let Some(number) = test.key.as_deref().and_then(parse_test_key) {
                    found.push(KeyedTest {
                        number,
                        story_id: test.story_id,
                        test_id: test.id.clone(),
                        steps_fingerprint: steps_fingerprint(&test),
                    });
                }
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
            writes.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .map_err(|error| Error::Internal(error.to_string()))?,
                    )
                    .build(),
            );
        }
        super::batch_write(&self.client, &self.projects_table, writes, EVIDENCE).await?;
        let item = with_key(
            &ReportItem {
                commit: &report.commit,
                run_url: report.run_url.as_deref(),
                recorded_at: report.recorded_at,
                cases: report.cases,
                unmapped: &report.unmapped,
            },
            Self::report_key(report),
        )?;
        let put = self
            .client
            .put_item()
            .table_name(&self.projects_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|service| service.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(sdk_error(EVIDENCE, error)),
        }
    }
}
