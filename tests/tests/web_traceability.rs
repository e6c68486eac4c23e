//! The traceability matrix in a real Chromium against `scripts/local-up`: a CI report uploaded
//! with the project's token shows as Pass and Fail; the filters put the gaps first; the
//! evidence drawer gives the failure message and the run; the CSV and the two documents are
//! downloaded and read back; the story page shows each test's evidence and the story's runs ×
//! tests; a CI run GitHub reported without a report says so; and the matrix fits a phone.

use aipm_tests::LocalUp;
use aipm_tests::browser::Browser;
use futures::FutureExt;
use serde_json::{Value, json};

async fn call(stack: &LocalUp, method: &str, path: &str, body: Option<Value>) -> Value {
    stack.call(method, path, body).await
}

async fn story(stack: &LocalUp, title: &str, parent: Option<u64>) -> u64 {
    call(
        stack,
        "POST",
        "/stories",
        Some(
            json!({"title": title, "parentId": parent, "asA": "product manager",
            "iWant": format!("{title}, done well"), "soThat": "the team ships"}),
        ),
    )
    .await["id"]
        .as_u64()
        .expect("an id")
}

async fn test_key(stack: &LocalUp, story: u64, title: &str) -> String {
    call(
        stack,
        "POST",
        &format!("/stories/{story}/tests"),
        Some(json!({"title": title, "given": ["a project"], "when": ["the PM exports"], "then": ["a file"]})),
    )
    .await["key"]
        .as_str()
        .expect("a key")
        .to_owned()
}

#[tokio::test]
async fn the_matrix_filters_explains_and_exports_ci_evidence() {
    let mut stack = LocalUp::start_with("ui-trace", &[("AIPM_LOCAL_WORKER", "off")]).await;
    let epic = story(&stack, "Reporting", None).await;
    let export = story(&stack, "Export CSV", Some(epic)).await;
    let import = story(&stack, "Import CSV", None).await;
    let rows_key = test_key(&stack, export, "Rows").await;
    let header_key = test_key(&stack, export, "Header").await;
    let import_key = test_key(&stack, import, "Parses").await;
    let token = call(&stack, "POST", "/projects/AIPM/upload-token", None).await["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let number = |key: &str| key.trim_start_matches("AT-").to_owned();
    let report = format!(
        r#"<testsuite name="ci" tests="3">
<testcase classname="tests.export" name="test_at_{}_rows"/>
<testcase classname="tests.export" name="test_at_{}_header"><failure message="assert 'Title' == 'title'">AssertionError</failure></testcase>
<testcase classname="tests.misc" name="test_unrelated"/>
</testsuite>"#,
        number(&rows_key),
        number(&header_key)
    );
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let uploaded = reqwest::Client::new()
        .post(format!(
            "{}/projects/AIPM/test-results?commit={commit}&run=4242&runUrl=https://ci.example/runs/4242",
            stack.url
        ))
        .bearer_auth(&token)
        .header("content-type", "application/xml")
        .body(report)
        .send()
        .await
        .expect("the upload is answered");
    assert_eq!(uploaded.status().as_u16(), 201);

    // Import CSV's pull request: GitHub says its CI ran, and no report came for that commit.
    call(
        &stack,
        "PATCH",
        &format!("/stories/{import}"),
        Some(json!({"status": "Ready", "acceptWarnings": true})),
    )
    .await;
    let task = call(
        &stack,
        "POST",
        &format!("/stories/{import}/generate-code"),
        Some(json!({})),
    )
    .await;
    let (status, answer) = stack
        .deliver_webhook(
            "workflow_run",
            "ui-run-1",
            &json!({
                "action": "completed",
                "sender": {"login": "dana", "type": "User"},
                "repository": {"full_name": "local/aipm"},
                "workflow_run": {
                    "id": 777, "name": "CI", "run_attempt": 1, "status": "completed",
                    "conclusion": "success", "head_branch": task["branch"],
                    "head_sha": "e".repeat(40),
                    "html_url": "https://github.com/local/aipm/actions/runs/777",
                    "pull_requests": [{"number": task["prNumber"]}],
                    "updated_at": "2026-12-06T11:00:00Z"
                }
            }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    let browser = Browser::start(&stack.url, "traceability", 1280, 900).await;
    let outcome = std::panic::AssertUnwindSafe(async {
        browser.open("/#/traceability").await;
        // The gaps first: the failing story and the uncovered one, not the epic without tests.
        browser.wait_for_text(".filters", "All gaps (2)").await;
        let shown = |filter: &str| {
            format!("[...document.querySelectorAll('.trace .story-row')].map(r => r.dataset.story).join(',') === '{filter}'")
        };
        browser
            .wait_until("the gaps are listed", &shown(&format!("{export},{import}")))
            .await;
        browser
            .wait_for_text(
                &format!(".story-row[data-story='{import}']"),
                "CI ran (CI: success), no per-test evidence",
            )
            .await;
        let run_link = browser
            .wait_until(
                "the run is linked",
                &format!("document.querySelector(\".story-row[data-story='{import}'] .ci-no-evidence a\")?.href"),
            )
            .await;
        assert_eq!(run_link, json!("https://github.com/local/aipm/actions/runs/777"));
        // The report's case that names no test, with how to map it.
        browser.click("[data-filter='unmapped']").await;
        let unmapped = browser
            .wait_for_text(".unmapped-cases", "tests.misc::test_unrelated")
            .await;
        assert!(unmapped.contains("4242#1") && unmapped.contains("0123456"), "{unmapped}");
        browser.screenshot("traceability-unmapped").await;
        browser.click("[data-filter='failing']").await;
        browser
            .wait_until("only the failing story", &shown(&export.to_string()))
            .await;
        browser.click("[data-filter='all']").await;
        browser
            .wait_until(
                "every story in tree order",
                &shown(&format!("{epic},{export},{import}")),
            )
            .await;
        browser.click_button(".matrix", "Expand all").await;
        browser
            .wait_for_text(&format!("[data-test='{rows_key}']"), "Pass")
            .await;
        browser
            .wait_for_text(&format!("[data-test='{header_key}']"), "Fail")
            .await;
        browser
            .wait_for_text(&format!("[data-test='{import_key}']"), "Uncovered")
            .await;
        // The evidence drawer: the failure, the commit and the run.
        browser
            .click(&format!("[data-test='{header_key}'] button.cell"))
            .await;
        let drawer = browser
            .wait_for_text(".drawer", "assert 'Title' == 'title'")
            .await;
        assert!(drawer.contains(commit) && drawer.contains("4242"), "{drawer}");
        browser.screenshot("traceability-drawer").await;
        browser.press(fantoccini::key::Key::Escape).await;
        browser
            .wait_until("the drawer closes", "!document.querySelector('.drawer')")
            .await;
        browser.screenshot("traceability-matrix").await;

        // The CSV, opened and checked.
        browser.click_button(".matrix", "Download CSV").await;
        let csv = browser.downloaded("AIPM-traceability.csv").await;
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].starts_with("Story,Story title,Status,Rollup,Key,Test,Evidence"), "{csv}");
        assert_eq!(lines.len(), 1 + 1 + 2 + 1, "the epic, two tests, one test: {csv}");
        let header_line = lines
            .iter()
            .find(|line| line.contains(&format!(",{header_key},")))
            .expect("the header test's line");
        assert!(
            header_line.starts_with(&format!("AIPM-{export},Export CSV,Draft,NOK,{header_key},Header,Fail,Draft,,,failed,{commit},,4242#1,https://ci.example/runs/4242,")),
            "{header_line}"
        );
        assert!(header_line.ends_with(",assert 'Title' == 'title'"), "{header_line}");

        // The documents.
        browser
            .click_button(".documents", "Requirements specification (.md)")
            .await;
        let spec = browser.downloaded("AIPM-requirements.md").await;
        assert!(spec.contains("## 3 Requirements"), "{spec}");
        assert!(
            spec.contains(&format!("| AIPM-{export} | Export CSV | {rows_key} (Pass), {header_key} (Fail) | NOK |")),
            "{spec}"
        );
        assert!(
            spec.find(&format!("AIPM-{epic} Reporting")) < spec.find(&format!("AIPM-{export} Export CSV")),
            "tree order"
        );
        browser
            .click_button(".documents", "Test completion report (.md)")
            .await;
        let report = browser.downloaded("AIPM-test-completion-report.md").await;
        assert!(
            report.contains(&format!("| {header_key} | AIPM-{export} | Header | Fail | 0123456789ab | [4242#1](https://ci.example/runs/4242) |")),
            "{report}"
        );
        assert!(report.contains("- Uncovered: 1"), "{report}");

        // The story page: each test's evidence; and the story's runs × tests.
        browser.open(&format!("/#/stories/{export}")).await;
        browser.wait_for_text(".test-evidence", "Fail").await;
        browser.wait_for_text(".evidence-summary", "NOK").await;
        browser
            .scroll_into_view(&browser.element(".tests").await)
            .await;
        browser.screenshot("story-evidence").await;
        browser.open(&format!("/#/traceability/{export}")).await;
        let runs = browser.wait_for_text("table.runs", "4242#1").await;
        assert!(runs.contains("passed") && runs.contains("failed"), "{runs}");

        // An uncovered test passed by hand says who passed it, on the page and in the drawer.
        browser.open(&format!("/#/stories/{import}")).await;
        browser.click_button(".test", "Pass").await;
        browser.wait_for_text(".test .status-set", "set by Ada Admin").await;
        browser.open("/?by=1#/traceability").await;
        browser.click("[data-filter='all']").await;
        browser
            .click(&format!(".story-row[data-story='{import}'] .toggle"))
            .await;
        browser
            .click(&format!("[data-test='{import_key}'] .cell"))
            .await;
        browser.wait_for_text(".drawer", "set by Ada Admin").await;

        // The project's CI settings: Done needs CI evidence, and a new upload token shown once
        // with the command CI runs; the token issued above stops working.
        browser.open("/#/people").await;
        browser
            .wait_for_text(".ci-settings", "An upload token was issued")
            .await;
        browser.click("#done-needs-ci").await;
        browser
            .wait_until(
                "the setting is saved",
                "document.querySelector('#done-needs-ci')?.checked === true && !document.querySelector('#done-needs-ci').disabled",
            )
            .await;
        browser
            .click_button(".ci-settings", "Issue a new token (the old one stops working)")
            .await;
        let shown = browser.value_of("#upload-token").await;
        assert!(shown.starts_with("aipm_ut_") && shown != token, "{shown}");
        browser
            .wait_for_text(".ci-settings .recipe", "/projects/AIPM/test-results")
            .await;
        browser
            .scroll_into_view(&browser.element(".ci-settings").await)
            .await;
        browser.screenshot("ci-settings").await;
        let project = call(&stack, "GET", "/projects/AIPM/me", None).await;
        assert_eq!(project["project"]["doneNeedsCiEvidence"], true);
        let old = reqwest::Client::new()
            .post(format!(
                "{}/projects/AIPM/test-results?commit={commit}",
                stack.url
            ))
            .bearer_auth(&token)
            .header("content-type", "application/xml")
            .body("<testsuite/>")
            .send()
            .await
            .expect("the upload is answered");
        assert_eq!(old.status().as_u16(), 401, "the replaced token");
    })
    .catch_unwind()
    .await;
    if outcome.is_err() {
        browser
            .save_failure("the_matrix_filters_explains_and_exports_ci_evidence")
            .await;
    }
    browser.close().await;

    // A phone: the matrix scrolls sideways inside its frame, the page does not.
    let phone = Browser::start(&stack.url, "traceability-phone", 390, 800).await;
    phone.open("/#/traceability").await;
    phone.wait_for_text(".filters", "All gaps").await;
    phone
        .wait_until(
            "the page is no wider than the phone",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    phone.screenshot("traceability-phone").await;
    phone.close().await;
    stack.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
