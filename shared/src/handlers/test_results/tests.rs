use std::collections::HashMap;
use std::io::Write;

use lambda_http::RequestExt;
use lambda_http::http::{Method, Request as HttpRequest};

use super::*;
use crate::adapters::memory_evidence::MemoryEvidence;
use crate::adapters::memory_projects::MemoryProjects;
use crate::handlers::test_support::{error_code, json};
use crate::http::respond;
use crate::model::{AcceptanceTest, TestStatus};
use crate::traceability::status::steps_fingerprint;

const TOKEN: &str = "aipm_ut_secret0123456789";
const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";

const REPORT: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_export" name="test_at_1_exports_csv"/>
<testcase classname="tests.test_export" name="test_at_2_headers"><failure message="assert 2 == 3"/></testcase>
<testcase classname="tests.test_export" name="test_at_2_header_order"/>
<testcase classname="tests.test_misc" name="test_unrelated"/>
</testsuite></testsuites>"#;

fn fixture() -> (MemoryProjects, MemoryEvidence) {
    let projects = MemoryProjects::with_default_project();
    let evidence = MemoryEvidence::default();
    evidence.set_token("default", TOKEN);
    for number in [1, 2] {
        evidence.add_test(0, keyed_test(number));
    }
    (projects, evidence)
}

fn keyed_test(number: u32) -> AcceptanceTest {
    AcceptanceTest {
        story_id: 1,
        id: format!("t{number}"),
        key: Some(format!("AT-{number}")),
        title: format!("test {number}"),
        given: vec![format!("given {number}")],
        when: vec!["when".into()],
        then: vec!["then".into()],
        status: TestStatus::Draft,
        status_set_by: None,
        status_set_at: None,
        needs_review: false,
        version: 1,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    }
}

fn upload(body: Vec<u8>, headers: &[(&str, &str)], query: &str) -> lambda_http::Request {
    let mut builder = HttpRequest::builder()
        .method(Method::POST)
        .uri(format!("/projects/AIPM/test-results?{query}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request: lambda_http::Request = builder.body(Body::Binary(body)).unwrap();
    let query: HashMap<String, String> = url_pairs(query);
    request
        .with_path_parameters(HashMap::from([("key".to_owned(), "AIPM".to_owned())]))
        .with_query_string_parameters(query)
}

fn url_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

async fn send(
    evidence: &MemoryEvidence,
    projects: &MemoryProjects,
    request: lambda_http::Request,
) -> Response<Body> {
    respond(
        &RecordTestResults::new(projects.clone(), evidence.clone()),
        request,
    )
    .await
}

fn as_xml() -> [(&'static str, &'static str); 2] {
    [
        ("content-type", "application/xml"),
        ("authorization", "Bearer aipm_ut_secret0123456789"),
    ]
}

#[tokio::test]
async fn a_report_is_recorded_per_key_once_per_run_and_report() {
    let (projects, evidence) = fixture();
    let query = format!("commit={HEAD}&run=77&attempt=1&runUrl=https://ci.example/runs/77");
    let first = send(
        &evidence,
        &projects,
        upload(REPORT.into(), &as_xml(), &query),
    )
    .await;
    assert_eq!(first.status(), 201, "{}", json(&first));
    let body = json(&first);
    assert_eq!(body["cases"], 4);
    assert_eq!(body["unmapped"], 1);
    assert_eq!(body["unmappedCases"][0], "tests.test_misc::test_unrelated");
    assert_eq!(
        body["results"],
        serde_json::json!([{"key": "AT-1", "outcome": "passed"}, {"key": "AT-2", "outcome": "failed"}])
    );
    let results = evidence.results();
    let failed = &results[1].2;
    assert_eq!(failed.message.as_deref(), Some("assert 2 == 3"));
    assert_eq!(failed.commit, HEAD);
    assert_eq!(failed.steps_fingerprint, steps_fingerprint(&keyed_test(2)));
    assert_eq!(failed.run, "77#1");
    assert_eq!(
        failed.case,
        "tests.test_export::test_at_2_headers, tests.test_export::test_at_2_header_order"
    );

    // The same report of the same run again (a retried upload step): recorded once.
    let again = send(
        &evidence,
        &projects,
        upload(REPORT.into(), &as_xml(), &query),
    )
    .await;
    assert_eq!(again.status(), 200);
    assert_eq!(json(&again)["recorded"], false);
    assert_eq!(evidence.results().len(), 2);

    // Gzipped, from a re-run: another record.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(REPORT.as_bytes()).unwrap();
    let mut headers = as_xml().to_vec();
    headers.push(("content-encoding", "gzip"));
    let rerun = send(
        &evidence,
        &projects,
        upload(
            gzip.finish().unwrap(),
            &headers,
            &format!("commit={HEAD}&run=77&attempt=2"),
        ),
    )
    .await;
    assert_eq!(rerun.status(), 201, "{}", json(&rerun));
    assert_eq!(evidence.reports().len(), 2);
}

/// Two scenarios of a cucumber-js run as Cucumber Messages: AT-1 tagged and passing, AT-2
/// named and failing.
const MESSAGES: &str = r#"{"meta":{"protocolVersion":"27.0.0"}}
{"pickle":{"id":"p1","uri":"features/export.feature","name":"Export","tags":[{"name":"@AT-1"}]}}
{"pickle":{"id":"p2","uri":"features/export.feature","name":"AT-2 headers","tags":[]}}
{"testCase":{"id":"c1","pickleId":"p1","testSteps":[]}}
{"testCase":{"id":"c2","pickleId":"p2","testSteps":[]}}
{"testCaseStarted":{"id":"r1","testCaseId":"c1","attempt":0}}
{"testStepFinished":{"testCaseStartedId":"r1","testStepId":"s","testStepResult":{"status":"PASSED"}}}
{"testCaseFinished":{"testCaseStartedId":"r1","willBeRetried":false}}
{"testCaseStarted":{"id":"r2","testCaseId":"c2","attempt":0}}
{"testStepFinished":{"testCaseStartedId":"r2","testStepId":"s","testStepResult":{"status":"FAILED","message":"expected 3 headers"}}}
{"testCaseFinished":{"testCaseStartedId":"r2","willBeRetried":false}}
"#;

#[tokio::test]
async fn a_cucumber_run_is_recorded_per_tag_and_name() {
    let (projects, evidence) = fixture();
    let headers = [
        ("content-type", "application/x-ndjson"),
        ("authorization", "Bearer aipm_ut_secret0123456789"),
    ];
    let answer = send(
        &evidence,
        &projects,
        upload(MESSAGES.into(), &headers, &format!("commit={HEAD}&run=5")),
    )
    .await;
    assert_eq!(answer.status(), 201, "{}", json(&answer));
    assert_eq!(
        json(&answer)["results"],
        serde_json::json!([{"key": "AT-1", "outcome": "passed"}, {"key": "AT-2", "outcome": "failed"}])
    );
    let results = evidence.results();
    assert_eq!(results[1].2.message.as_deref(), Some("expected 3 headers"));
    assert_eq!(results[1].2.case, "features/export.feature::AT-2 headers");
}

#[tokio::test]
async fn bad_uploads_are_clear_4xx_and_store_nothing() {
    let (projects, evidence) = fixture();
    let good_query = format!("commit={HEAD}");
    /// Headers, body, query, and the status and code it is answered with.
    type Refused<'a> = (Vec<(&'a str, &'a str)>, Vec<u8>, String, u16, &'a str);
    let cases: Vec<Refused<'_>> = vec![
        (
            vec![("content-type", "application/xml")],
            REPORT.into(),
            good_query.clone(),
            401,
            "UPLOAD_TOKEN_INVALID",
        ),
        (
            vec![
                ("content-type", "application/xml"),
                ("authorization", "Bearer aipm_ut_forged"),
            ],
            REPORT.into(),
            good_query.clone(),
            401,
            "UPLOAD_TOKEN_INVALID",
        ),
        (
            vec![
                ("content-type", "text/plain"),
                ("authorization", "Bearer aipm_ut_secret0123456789"),
            ],
            REPORT.into(),
            good_query.clone(),
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        // JUnit XML sent as Cucumber JSON or Messages: read as what it says it is.
        (
            vec![
                ("content-type", "application/json"),
                ("authorization", "Bearer aipm_ut_secret0123456789"),
            ],
            REPORT.into(),
            good_query.clone(),
            400,
            "REPORT_MALFORMED",
        ),
        (
            vec![
                ("content-type", "application/x-ndjson"),
                ("authorization", "Bearer aipm_ut_secret0123456789"),
            ],
            REPORT.into(),
            good_query.clone(),
            400,
            "REPORT_MALFORMED",
        ),
        (
            as_xml().to_vec(),
            REPORT.into(),
            "commit=nothex!".into(),
            400,
            "INVALID_QUERY_PARAMETER",
        ),
        (
            as_xml().to_vec(),
            REPORT.into(),
            String::new(),
            400,
            "INVALID_QUERY_PARAMETER",
        ),
        (
            as_xml().to_vec(),
            b"<testsuites><oops".to_vec(),
            good_query.clone(),
            400,
            "REPORT_MALFORMED",
        ),
        (
            as_xml().to_vec(),
            vec![0xff, 0xfe, 0x00],
            good_query.clone(),
            400,
            "REPORT_MALFORMED",
        ),
        (
            as_xml().to_vec(),
            REPORT
                .replace("test_at_1_exports_csv", "test_at_9_unknown")
                .into(),
            good_query.clone(),
            422,
            "UNKNOWN_TEST_KEYS",
        ),
        (
            as_xml().to_vec(),
            vec![b' '; MAX_REPORT_BYTES + 1],
            good_query.clone(),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (headers, body, query, status, code) in cases {
        let answer = send(&evidence, &projects, upload(body, &headers, &query)).await;
        assert_eq!(answer.status(), status, "{code}: {}", json(&answer));
        assert_eq!(error_code(&answer), code);
    }
    // A gzip bomb is cut off at the limit.
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b' '; MAX_REPORT_BYTES + 10]).unwrap();
    let mut headers = as_xml().to_vec();
    headers.push(("content-encoding", "gzip"));
    let bombed = send(
        &evidence,
        &projects,
        upload(bomb.finish().unwrap(), &headers, &good_query),
    )
    .await;
    assert_eq!(bombed.status(), 413);
    // A key no project has is no answer about the project either.
    let mut elsewhere = upload(REPORT.into(), &as_xml(), &good_query);
    elsewhere =
        elsewhere.with_path_parameters(HashMap::from([("key".to_owned(), "NOPE".to_owned())]));
    assert_eq!(
        error_code(&send(&evidence, &projects, elsewhere).await),
        "UPLOAD_TOKEN_INVALID"
    );
    assert!(evidence.reports().is_empty(), "nothing is stored");
    assert!(evidence.results().is_empty());
}
