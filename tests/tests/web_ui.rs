//! The web UI in a real Chromium over WebDriver, against the stack `scripts/local-up` starts:
//! everything through the page only, waiting on conditions. On failure the screenshot and the
//! console log of every browser are written under `target/ui/`; the story page's screenshot of
//! the main flow is the one the README shows (`AIPM_UPDATE_SCREENSHOTS=1` copies it to `docs/`).

use std::future::Future;

use aipm_tests::LocalUp;
use aipm_tests::browser::Browser;
use futures::FutureExt;
use serde_json::{Value, json};

/// Runs a test body with its browsers; on a panic saves their screenshots and console logs.
async fn with_artifacts<F, Fut>(test: &str, browsers: &[&Browser], body: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let outcome = std::panic::AssertUnwindSafe(body()).catch_unwind().await;
    if let Err(panic) = outcome {
        for browser in browsers {
            browser.save_failure(test).await;
        }
        std::panic::resume_unwind(panic);
    }
}

async fn api(stack: &LocalUp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = client.request(method, format!("{}{path}", stack.url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the API answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The id in the page's URL (`#/stories/42`).
async fn current_story_id(browser: &Browser) -> u64 {
    let id = browser
        .wait_until(
            "a story page is open",
            "(location.hash.match(/^#\\/stories\\/(\\d+)$/) || [])[1]",
        )
        .await;
    id.as_str()
        .and_then(|id| id.parse().ok())
        .expect("a story id in the URL")
}

#[tokio::test]
async fn a_product_person_writes_a_story_makes_it_ready_and_ships_it() {
    let mut stack = LocalUp::start("ui-flow").await;
    let browser = Browser::start(&stack.url, "flow", 1280, 800).await;
    with_artifacts("flow", &[&browser], || async {
        browser.open("/").await;
        browser.wait_for_text(".tree", "No stories yet").await;
        browser
            .wait_until("the stage badge says local", "document.querySelector('.stage')?.textContent === 'local'")
            .await;
        browser.wait_for_text(".health", "Backend healthy").await;

        // A root story, then its narrative.
        browser.click_button(".tree-head", "New story").await;
        browser.type_into("#new-story-title", "Export stories as CSV").await;
        browser.click_button(".tree form", "Create story").await;
        browser.wait_for_text(".story-page h2", "Export stories as CSV").await;
        let story_id = current_story_id(&browser).await;
        browser.type_into("#story-asA", "product manager").await;
        browser.type_into("#story-iWant", "a CSV export of the story tree").await;
        browser.type_into("#story-soThat", "I can share progress with stakeholders").await;
        browser.type_into("#story-storyPoint", "3").await;
        browser.click_button(".story-form", "Save changes").await;
        browser.wait_for_text(".story-form", "Saved.").await;

        // A child.
        browser.type_into("#child-title", "Pick the CSV columns").await;
        browser.click_button(".children", "Add child").await;
        browser.wait_for_text(".children", "Pick the CSV columns").await;
        browser.wait_for_text(".tree", "0/1 done").await;

        // Ready is refused without an acceptance test, with the reason shown.
        browser.click_button(".status", "Move to Ready").await;
        browser
            .wait_for_text(".status .refusal", "at least one acceptance test")
            .await;

        // An acceptance test, then Ready.
        browser.click_button(".tests", "Add test").await;
        browser.type_into("#new-test-title", "Export three stories").await;
        browser.type_into("#new-test-given", "3 stories exist").await;
        browser.type_into("#new-test-when", "the PM exports the tree").await;
        browser.type_into("#new-test-then", "a CSV with 3 rows is downloaded").await;
        browser.click_button(".tests form", "Add test").await;
        browser.wait_for_text(".tests .test", "a CSV with 3 rows is downloaded").await;
        browser.click_button(".status", "Move to Ready").await;
        browser.wait_for_text(".story-page h2", "Ready").await;

        // Generate code & PR, double-clicked: one task, which the worker takes to succeeded.
        browser.type_into("#instructions", "Keep the public API unchanged").await;
        browser
            .client
            .execute(
                "const button = [...document.querySelectorAll('.code button')].find(b => b.textContent.includes('Generate code'));\
                 button.click(); button.click();",
                vec![],
            )
            .await
            .expect("double click");
        browser
            .wait_until(
                "the task succeeded",
                "document.querySelector('.task')?.dataset.taskStatus === 'succeeded'",
            )
            .await;
        let pr = browser.element(".task-facts a[href^='file://']").await;
        assert!(pr.text().await.unwrap_or_default().contains('#'));
        browser.wait_for_text(".task-facts", "Files changed").await;
        let (_, story) = api(&stack, "GET", &format!("/stories/{story_id}"), None).await;
        assert_eq!(
            story["codeTasks"].as_array().map(Vec::len),
            Some(1),
            "a double click made one task: {story}"
        );
        assert_eq!(story["codeTasks"][0]["instructions"], json!("Keep the public API unchanged"));
        browser.screenshot("story-page").await;

        // Delete the parent with its child.
        browser.click_button(".danger", "Delete story").await;
        browser
            .wait_for_text(".danger .confirm", "the 1 story under it")
            .await;
        browser.click_button(".danger .confirm", "Delete 2 stories").await;
        browser.wait_for_text(".tree", "No stories yet").await;
        let (status, _) = api(&stack, "GET", &format!("/stories/{story_id}"), None).await;
        assert_eq!(status, 404);
    })
    .await;
    browser.close().await;
    stack.stop().await;
}
