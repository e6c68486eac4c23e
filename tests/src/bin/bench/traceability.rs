//! Traceability's figures for `scripts/bench`: a 10,000-case JUnit report ingested by the
//! release `record-test-results` function (time per upload and the process's peak RSS), and the
//! Traceability page of a 1,000-story project rendered in headless Chromium.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use aipm::project::DEFAULT_PROJECT_ID;
use aipm_tests::Backend;
use aipm_tests::browser::Browser;
use aipm_tests::runtime_api::RuntimeApi;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

use super::{batch_put, ms, peak_rss_kib, percentile, seed_tree, spawn};

/// The report: this many test cases, one in twenty naming no key.
const CASES: usize = 10_000;
/// The project: epics × stories per epic (the epic included), each story with its tests.
const EPICS: u64 = 50;
const PER_EPIC: u64 = 20;
const STORIES: u64 = EPICS * PER_EPIC;
const TESTS_PER_STORY: u64 = 2;
/// Keys the smaller report names.
const FEW_KEYS: u64 = 100;
/// Uploads measured, each a new run (nothing is deduplicated).
const UPLOADS: usize = 5;
/// Fresh page loads measured.
const LOADS: usize = 5;
/// The commit every run reports on.
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// What the section prints.
#[derive(Default)]
struct Figures {
    report_bytes: usize,
    gzipped_bytes: usize,
    upload: Vec<Duration>,
    statuses: Vec<u16>,
    recorded_results: usize,
    /// DynamoDB requests one upload made, and the emulator's time for them per upload.
    dynamodb_calls: u64,
    emulator: Vec<Duration>,
    peak_rss_kib: u64,
    /// From the matrix's JSON arriving to the page showing it (default filter: the gaps).
    first_render: Vec<Duration>,
    first_rows: u64,
    /// From a click on "All" to every story shown.
    all_render: Vec<Duration>,
    /// From a click on "Expand all" to every story's tests shown.
    expand_render: Vec<Duration>,
    expanded_rows: u64,
    matrix_bytes: u64,
}

/// `AT-n` of story `story`'s `index`th test (numbered per project, in story order).
fn test_number(story: u64, index: u64) -> u64 {
    (story - 1) * TESTS_PER_STORY + index + 1
}

/// Every story's tests, written straight into the table with the sparse index attribute the
/// repository writes for keyed tests.
async fn seed_tests(backend: &Backend) {
    let items = (1..=STORIES)
        .flat_map(|story| (0..TESTS_PER_STORY).map(move |index| (story, index)))
        .map(|(story, index)| {
            let number = test_number(story, index);
            let test = aipm::model::AcceptanceTest {
                key: Some(format!("AT-{number}")),
                title: format!("Benchmark test {number}"),
                ..aipm_tests::sample_test(story, &format!("t{number}"))
            };
            let mut item: std::collections::HashMap<String, AttributeValue> =
                serde_dynamo::to_item(test).expect("a test serializes");
            item.insert("keyOf".into(), AttributeValue::N("0".into()));
            item
        })
        .collect();
    batch_put(backend, &backend.config.acceptance_tests_table, items).await;
}

/// A JUnit report of [`CASES`] cases spread over the first `keys` of the project's keys, as
/// pytest writes one:
/// one in fifty fails with a message, one in forty is skipped, one in twenty names no key.
fn junit_report(run: usize, keys: u64) -> String {
    let mut xml = String::with_capacity(CASES * 160);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<testsuites><testsuite name=\"pytest\" tests=\"{CASES}\" errors=\"0\" failures=\"{}\" skipped=\"{}\" time=\"42.0\">\n",
        CASES / 50,
        CASES / 40
    );
    for case in 0..CASES {
        let number = case as u64 % keys + 1;
        let name = if case % 20 == 19 {
            format!("test_helper_{case}")
        } else {
            format!("test_at_{number}_checkout_case_{case}")
        };
        let _ = write!(
            xml,
            "<testcase classname=\"tests.test_checkout\" name=\"{name}\" time=\"0.004\">"
        );
        if case % 50 == 7 {
            let _ = write!(
                xml,
                "<failure message=\"assert 402 == 200 (run {run})\">Traceback: the card was declined</failure>"
            );
        } else if case % 40 == 3 {
            xml.push_str("<skipped message=\"needs the sandbox\"/>");
        }
        xml.push_str("</testcase>\n");
    }
    xml.push_str("</testsuite></testsuites>\n");
    xml
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// A fresh upload token for the default project, as issue-upload-token stores it.
async fn upload_token(backend: &Backend) -> String {
    use aipm::ports::TestEvidence;
    let token = format!("aipm_ut_bench{}", std::process::id());
    let evidence = aipm::adapters::dynamodb::DynamoTestEvidence::new(
        aws_sdk_dynamodb::Client::new(&backend.sdk),
        backend.setting("AIPM_PROJECTS_TABLE"),
        &backend.config.acceptance_tests_table,
    );
    evidence
        .set_upload_token(
            DEFAULT_PROJECT_ID,
            Some(&aipm::ports::UploadToken {
                hash: aipm::project::secret_hash(&token),
                issued_at: chrono::Utc::now(),
                issued_by: "bench".into(),
            }),
        )
        .await
        .expect("the upload token is stored");
    token
}

/// [`UPLOADS`] reports, each of a new run, to one warm process of the release function, their
/// cases naming the first `keys` keys.
async fn ingest(binaries: &Path, backend: &Backend, keys: u64, figures: &mut Figures) {
    let token = upload_token(backend).await;
    let mut runtime = RuntimeApi::start().await;
    let mut child = spawn(
        &binaries.join("record-test-results"),
        &backend.environment,
        &runtime.address,
    );
    for run in 0..UPLOADS {
        let report = junit_report(run, keys);
        let body = gzip(&report);
        figures.report_bytes = report.len();
        figures.gzipped_bytes = body.len();
        let mut headers = serde_json::Map::new();
        headers.insert("authorization".into(), json!(format!("Bearer {token}")));
        headers.insert("content-type".into(), json!("application/xml"));
        headers.insert("content-encoding".into(), json!("gzip"));
        let event = aipm_tests::gateway::http_api_event(
            "POST",
            "/projects/{key}/test-results",
            &format!("/projects/AIPM/test-results?commit={COMMIT}&run=bench-{keys}-{run}"),
            headers,
            &body,
        );
        let before = backend.emulator.dynamodb_stats().await;
        let (sent, posted) = runtime.invoke(&event).await;
        figures.upload.push(posted.at - sent);
        let emulator = backend.emulator.dynamodb_stats().await - before;
        figures.dynamodb_calls = emulator.requests;
        figures.emulator.push(emulator.busy);
        let response: Value = serde_json::from_slice(&posted.body).unwrap_or(Value::Null);
        figures
            .statuses
            .push(response["statusCode"].as_u64().unwrap_or(0) as u16);
        let answer: Value = response["body"]
            .as_str()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null);
        figures.recorded_results = answer["results"].as_array().map_or(0, Vec::len);
        eprintln!(
            "  upload {run}: {} ms, status {}, {} keys",
            ms(posted.at - sent),
            figures.statuses[run],
            figures.recorded_results
        );
    }
    figures.peak_rss_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

/// A JS expression: milliseconds from the last `from` mark to the first
/// `aipm:matrix-rendered` after it, or null while there is none.
fn rendered_after(from: &str) -> String {
    format!(
        "(() => {{ const from = performance.getEntriesByName('{from}').at(-1); if (!from) return null; \
         const shown = performance.getEntriesByName('aipm:matrix-rendered').find(m => m.startTime >= from.startTime); \
         return shown ? Math.max(shown.startTime - from.startTime, 0.001) : null; }})()"
    )
}

/// Marks the moment and clicks the button, in one script: the time a WebDriver round trip
/// takes is not the page's.
fn click_marked(selector: &str, mark: &str) -> String {
    format!(
        "performance.mark('{mark}'); document.querySelector(\"{selector}\").click(); return true;"
    )
}

fn millis(value: &Value) -> Duration {
    Duration::from_secs_f64(value.as_f64().unwrap_or(f64::NAN).max(0.0) / 1000.0)
}

/// The Traceability page opened afresh [`LOADS`] times on the whole project.
async fn render(binaries: &Path, backend: &Backend, figures: &mut Figures) {
    let gateway = super::release_gateway(backend, binaries).await;
    for load in 0..LOADS {
        let browser =
            Browser::start(&gateway.url, &format!("bench-matrix-{load}"), 1280, 800).await;
        browser.open("/#/traceability").await;
        let first = browser
            .wait_until_within(
                "the matrix is shown",
                &rendered_after("aipm:matrix-loaded"),
                Duration::from_secs(120),
            )
            .await;
        figures.first_render.push(millis(&first));
        figures.first_rows = browser
            .wait_until(
                "the matrix's rows",
                "document.querySelectorAll('tr.story-row').length",
            )
            .await
            .as_u64()
            .unwrap_or(0);
        if load == 0 {
            figures.matrix_bytes = browser
                .client
                .execute(
                    "return performance.getEntriesByType('resource').filter(e => e.name.includes('/traceability')).map(e => e.transferSize).reduce((a, b) => a + b, 0);",
                    vec![],
                )
                .await
                .ok()
                .and_then(|value| value.as_u64())
                .unwrap_or(0);
        }
        browser
            .client
            .execute(
                &click_marked("button.filter[data-filter='all']", "bench:all"),
                vec![],
            )
            .await
            .expect("the All filter is there");
        let all = browser
            .wait_until("every story is shown", &rendered_after("bench:all"))
            .await;
        let shown = browser
            .wait_until(
                "the stories' rows",
                "document.querySelectorAll('tr.story-row').length",
            )
            .await;
        assert_eq!(shown, json!(STORIES), "the All filter shows every story");
        figures.all_render.push(millis(&all));
        browser
            .client
            .execute(
                "performance.mark('bench:expand'); [...document.querySelectorAll('.matrix .actions button')].find(b => b.textContent.includes('Expand all')).click(); return true;",
                vec![],
            )
            .await
            .expect("Expand all is there");
        let expand = browser
            .wait_until("every test is shown", &rendered_after("bench:expand"))
            .await;
        figures.expand_render.push(millis(&expand));
        figures.expanded_rows = browser
            .wait_until(
                "the tests' rows",
                "document.querySelectorAll('tr.test-row').length",
            )
            .await
            .as_u64()
            .unwrap_or(0);
        if load == 0 {
            browser.screenshot("bench-matrix").await;
        }
        browser.close().await;
    }
}

/// Measures both and writes the section.
pub async fn section(report: &mut String, binaries: &Path) {
    let backend = Backend::start("bench-traceability").await;
    seed_tree(&backend, EPICS, PER_EPIC).await;
    seed_tests(&backend).await;
    // Few keys (most cases are unit tests no acceptance test names), then every key.
    let mut few = Figures::default();
    eprintln!("traceability: ingesting {CASES}-case reports naming {FEW_KEYS} keys");
    ingest(binaries, &backend, FEW_KEYS, &mut few).await;
    let mut figures = Figures::default();
    eprintln!("traceability: ingesting {CASES}-case reports naming every key");
    ingest(binaries, &backend, STORIES * TESTS_PER_STORY, &mut figures).await;
    eprintln!("traceability: the matrix of {STORIES} stories in Chromium");
    render(binaries, &backend, &mut figures).await;
    write_header(report);
    write_ingestion(report, &mut few);
    write_ingestion(report, &mut figures);
    write_matrix(report, &mut figures);
}

fn write_header(report: &mut String) {
    let _ = writeln!(
        report,
        "\n## Traceability (release functions, emulator, headless Chromium)\n"
    );
    let _ = writeln!(
        report,
        "Written on {}. A project of {STORIES} stories ({EPICS} epics of {PER_EPIC}) with {} keyed \
         acceptance tests, written straight into the tables.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        STORIES * TESTS_PER_STORY
    );
}

fn write_ingestion(report: &mut String, figures: &mut Figures) {
    let statuses: Vec<String> = figures.statuses.iter().map(u16::to_string).collect();
    let _ = writeln!(
        report,
        "- **Ingestion**: a JUnit report of {CASES} test cases ({} bytes, {} gzipped, one case in 20 \
         naming no key, results for {} keys) posted {UPLOADS} times, each a new run, to one process \
         of the release `record-test-results` through the loopback Runtime API: {} ms median, {} ms \
         slowest (statuses {}); peak RSS {:.1} MiB (target ≤ 1 s and ≤ 64 MiB). The time includes \
         reading the upload token, the project and its keyed tests, and writing each key's result \
         and latest: {} DynamoDB requests per upload, of which the emulator (one request at a \
         time) spent {} ms median, leaving {} ms median to the function, the SDK and loopback \
         HTTP.",
        figures.report_bytes,
        figures.gzipped_bytes,
        figures.recorded_results,
        ms(percentile(&mut figures.upload, 0.5)),
        ms(percentile(&mut figures.upload, 1.0)),
        statuses.join(", "),
        figures.peak_rss_kib as f64 / 1024.0,
        figures.dynamodb_calls,
        ms(percentile(&mut figures.emulator, 0.5)),
        ms(percentile(&mut figures.upload, 0.5)
            .saturating_sub(percentile(&mut figures.emulator, 0.5))),
    );
}

fn write_matrix(report: &mut String, figures: &mut Figures) {
    let _ = writeln!(
        report,
        "- **Matrix**, opened afresh {LOADS} times (a new browser profile each), measured with the \
         page's own marks from the JSON's arrival ({} bytes transferred) to the frame after the \
         render (Preact runs effects after paint):\n  \
         - first render, the gaps filter ({} story rows): {} ms median, {} ms slowest;\n  \
         - \"All\" clicked, {STORIES} story rows: {} ms median, {} ms slowest (target ≤ 500 ms);\n  \
         - \"Expand all\" clicked, {} story and test rows: {} ms median, {} ms slowest.",
        figures.matrix_bytes,
        figures.first_rows,
        ms(percentile(&mut figures.first_render, 0.5)),
        ms(percentile(&mut figures.first_render, 1.0)),
        ms(percentile(&mut figures.all_render, 0.5)),
        ms(percentile(&mut figures.all_render, 1.0)),
        STORIES + figures.expanded_rows,
        ms(percentile(&mut figures.expand_render, 0.5)),
        ms(percentile(&mut figures.expand_render, 1.0)),
    );
}

/// `document` with its traceability section replaced by `section` (or added before the
/// handler overhead when it has none).
pub fn splice(document: &str, section: &str) -> String {
    splice_section(document, "\n## Traceability", section)
}

/// `document` with the section under `heading` (`"\n## Name"`) replaced by `section`, or added
/// before the handler overhead when it has none: a section measured alone keeps the rest.
pub fn splice_section(document: &str, heading: &str, section: &str) -> String {
    let section = section.trim();
    let (before, after) = if let Some(start) = document.find(heading) {
        let rest = &document[start + heading.len()..];
        let end = rest
            .find("\n## ")
            .map_or(document.len(), |at| start + heading.len() + at);
        (&document[..start], &document[end..])
    } else if let Some(at) = document.find("\n## Handler overhead") {
        (&document[..at], &document[at..])
    } else {
        (document.trim_end(), "\n")
    };
    format!("{}\n\n{section}\n{after}", before.trim_end())
}
