//! The web UI in a real Chromium over WebDriver, against the stack `scripts/local-up` starts:
//! everything through the page only, waiting on conditions. On failure the screenshot and the
//! console log of every browser are written under `target/ui/`; the story page's screenshot of
//! the main flow is the one the README shows (`AIPM_UPDATE_SCREENSHOTS=1` copies it to `docs/`).

use std::future::Future;

use aipm_tests::LocalUp;
use aipm_tests::browser::Browser;
use fantoccini::key::Key;
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

/// The story page in a tall window, its task finished: the README's picture.
/// `AIPM_UPDATE_SCREENSHOTS=1` copies it to docs/story-page.png.
async fn readme_screenshot(stack: &LocalUp, story_id: u64) {
    let browser = Browser::start(&stack.url, "readme", 1280, 1600).await;
    browser.open(&format!("/#/stories/{story_id}")).await;
    browser
        .wait_until(
            "the finished task is shown",
            "document.querySelector('.task')?.dataset.taskStatus === 'succeeded'",
        )
        .await;
    let shot = browser.screenshot("story-page").await;
    if std::env::var_os("AIPM_UPDATE_SCREENSHOTS").is_some() {
        let docs = aipm_tests::repo_root().join("docs/story-page.png");
        std::fs::copy(&shot, &docs).expect("docs/story-page.png written");
    }
    browser.close().await;
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

        // The tree by keyboard: open the root, step down to the child, open it; Back returns.
        let root_row = browser.element(&format!(".tree-row[data-id='{story_id}']")).await;
        browser
            .client
            .execute("arguments[0].focus()", vec![serde_json::to_value(&root_row).expect("a reference")])
            .await
            .expect("focus the root row");
        browser.press(Key::Right).await;
        browser
            .wait_until("the root row is open", &format!("document.querySelector(\".tree-row[data-id='{story_id}']\").getAttribute('aria-expanded') === 'true'"))
            .await;
        browser.press(Key::Down).await;
        browser
            .wait_until("the child row has the focus", &format!("document.activeElement?.dataset.id && document.activeElement.dataset.id !== '{story_id}'"))
            .await;
        browser.press(Key::Enter).await;
        let child_id = current_story_id(&browser).await;
        assert_ne!(child_id, story_id, "Enter on the child row opens the child");
        browser.wait_for_text(".story-page h2", "Pick the CSV columns").await;
        browser.client.back().await.expect("back");
        browser.wait_for_text(".story-page h2", "Export stories as CSV").await;

        // A network failure on save offers Retry and keeps what was typed.
        browser.type_into("#story-description", "Kept through a failure").await;
        browser
            .client
            .execute(
                "const real = window.fetch; let failures = 1;\
                 window.fetch = (url, init) => (init?.method === 'PATCH' && failures-- > 0)\
                   ? Promise.reject(new TypeError('Failed to fetch')) : real(url, init);",
                vec![],
            )
            .await
            .expect("a failing network");
        browser.click_button(".story-form", "Save changes").await;
        browser.wait_for_text(".story-form .error-note", "could not be reached").await;
        assert_eq!(browser.value_of("#story-description").await, "Kept through a failure");
        browser.click_button(".story-form .error-note", "Retry").await;
        browser.wait_for_text(".story-form", "Saved.").await;

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
            .wait_until_within(
                "the task succeeded",
                "document.querySelector('.task')?.dataset.taskStatus === 'succeeded'",
                std::time::Duration::from_secs(120),
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
        readme_screenshot(&stack, story_id).await;

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

/// A Ready story with one acceptance test, made through the API (setup, not the subject).
async fn seed_ready_story(stack: &LocalUp, title: &str) -> u64 {
    let (status, story) = api(
        stack,
        "POST",
        "/stories",
        Some(
            json!({"title": title, "asA": "product manager", "iWant": "a CSV export of the tree",
                    "soThat": "I can share progress", "storyPoint": 3}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{story}");
    let id = story["id"].as_u64().expect("an id");
    let test = json!({"title": "Export", "given": ["3 stories exist"], "when": ["the PM exports"],
                      "then": ["a CSV with 3 rows is downloaded"]});
    let (status, _) = api(stack, "POST", &format!("/stories/{id}/tests"), Some(test)).await;
    assert_eq!(status, 201);
    let ready = json!({"status": "Ready", "acceptWarnings": true});
    let (status, body) = api(stack, "PATCH", &format!("/stories/{id}"), Some(ready)).await;
    assert_eq!(status, 200, "{body}");
    id
}

/// Drags a board card onto a column with the page's own drag-and-drop handlers.
async fn drag_card(browser: &Browser, id: u64, column: &str) {
    browser
        .client
        .execute(
            "const card = document.querySelector(`.card[data-id=\"${arguments[0]}\"]`);\
             const column = document.querySelector(`.column[data-status=\"${arguments[1]}\"]`);\
             const data = new DataTransfer();\
             card.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: data}));\
             column.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: data}));\
             column.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: data}));",
            vec![json!(id), json!(column)],
        )
        .await
        .expect("drag and drop");
}

#[tokio::test]
async fn cancel_a_queued_task_move_cards_and_resolve_an_edit_conflict() {
    // No worker: a task stays queued until someone cancels it.
    let mut stack = LocalUp::start_with("ui-board", &[("AIPM_LOCAL_WORKER", "off")]).await;
    let ready = seed_ready_story(&stack, "Export stories as CSV").await;
    let (_, draft) = api(
        &stack,
        "POST",
        "/stories",
        Some(json!({"title": "Import stories"})),
    )
    .await;
    let draft = draft["id"].as_u64().expect("an id");

    let first = Browser::start(&stack.url, "first", 1280, 800).await;
    let second = Browser::start(&stack.url, "second", 1280, 800).await;
    let phone = Browser::start(&stack.url, "phone", 390, 844).await;
    with_artifacts("board", &[&first, &second, &phone], || async {
        // Generate, then cancel while queued.
        first.open(&format!("/#/stories/{ready}")).await;
        first.click_button(".code", "Generate code & PR").await;
        first
            .wait_until(
                "the task is queued",
                "document.querySelector('.task')?.dataset.taskStatus === 'queued'",
            )
            .await;
        first.wait_for_text(".code", "still active").await;
        first.click_button(".task", "Cancel task").await;
        first
            .wait_until(
                "the task is cancelled",
                "document.querySelector('.task')?.dataset.taskStatus === 'cancelled'",
            )
            .await;

        // The board: a refused move leaves the card and says why; an allowed drag moves it.
        first.open("/#/board").await;
        first
            .wait_for_text(".column[data-status='Draft']", "Import stories")
            .await;
        let select = first.element(&format!("#move-{draft}")).await;
        select.select_by_value("Ready").await.expect("choose Ready");
        first
            .wait_for_text(
                &format!(".card[data-id='{draft}'] .refusal"),
                "at least one acceptance test",
            )
            .await;
        first
            .wait_for_text(".column[data-status='Draft']", "Import stories")
            .await;
        let (_, story) = api(&stack, "GET", &format!("/stories/{ready}"), None).await;
        let from = story["status"].as_str().expect("a status").to_owned();
        let to = if from == "Ready" { "Draft" } else { "Ready" };
        first
            .wait_for_text(&format!(".column[data-status='{from}']"), "Export stories")
            .await;
        drag_card(&first, ready, to).await;
        first
            .wait_for_text(&format!(".column[data-status='{to}']"), "Export stories")
            .await;
        let (_, moved) = api(&stack, "GET", &format!("/stories/{ready}"), None).await;
        assert_eq!(moved["status"], json!(to));
        first.screenshot("board").await;

        // Two windows edit the same story: the second, being typed in, meets the first one's
        // change, told by the live channel (or, had it not arrived yet, by the refused save).
        first.open(&format!("/#/stories/{draft}")).await;
        second.open(&format!("/#/stories/{draft}")).await;
        first
            .wait_for_text(".story-page h2", "Import stories")
            .await;
        second
            .wait_for_text(".story-page h2", "Import stories")
            .await;
        second
            .type_into("#story-description", "Typed in the second window")
            .await;
        first
            .type_into("#story-title", "Import stories from CSV")
            .await;
        first.click_button(".story-form", "Save changes").await;
        first.wait_for_text(".story-form", "Saved.").await;
        second.click_button(".story-form", "Save changes").await;
        second
            .wait_for_text(".conflict", "changed this story")
            .await;
        assert_eq!(
            second.value_of("#story-title").await,
            "Import stories",
            "the other window's title is offered, not taken under the typing"
        );
        second.wait_for_text(".conflict", "version 2").await;
        assert_eq!(
            second.value_of("#story-description").await,
            "Typed in the second window"
        );
        second.screenshot("conflict").await;
        second
            .click_button(".conflict", "Save mine over theirs")
            .await;
        second.wait_for_text(".story-form", "Saved.").await;
        let (_, merged) = api(&stack, "GET", &format!("/stories/{draft}"), None).await;
        assert_eq!(merged["title"], "Import stories from CSV");
        assert_eq!(merged["description"], "Typed in the second window");

        // A phone: the story page alone, and its status can be changed.
        phone.open(&format!("/#/stories/{draft}")).await;
        phone
            .wait_for_text(".story-page h2", "Import stories from CSV")
            .await;
        let tree_shown = phone
            .client
            .execute(
                "return getComputedStyle(document.querySelector('.tree')).display !== 'none'",
                vec![],
            )
            .await
            .expect("a style");
        assert_eq!(
            tree_shown,
            json!(false),
            "the tree gives way to the story on a phone"
        );
        let width = phone
            .client
            .execute("return window.innerWidth", vec![])
            .await
            .expect("a width");
        assert_eq!(width, json!(390));
        let overflow = phone
            .client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth",
                vec![],
            )
            .await
            .expect("a width");
        assert_eq!(
            overflow,
            json!(false),
            "nothing sticks out sideways on a phone"
        );
        phone.click_button(".status", "Move to Blocked").await;
        phone.wait_for_text(".story-page h2", "Blocked").await;
        phone.screenshot("phone-story").await;
    })
    .await;
    for browser in [first, second, phone] {
        browser.close().await;
    }
    stack.stop().await;
}

/// Polls the API until the story's newest task has ended; returns the story.
async fn wait_for_task_end(stack: &LocalUp, story_id: u64) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (_, story) = api(stack, "GET", &format!("/stories/{story_id}"), None).await;
        let status = story["codeTasks"][0]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !status.is_empty() && status != "queued" && status != "running" {
            return story;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the task never ended: {story}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn retry_a_failed_run_then_request_changes_on_the_same_pull_request() {
    // The agent fails its first run only; the worker gives up after one attempt, so the task
    // ends failed and waits for a person to retry it.
    let state = aipm_tests::temp_dir("ui-revisions-agent");
    std::fs::create_dir_all(&state).expect("a folder for the agent's marker");
    let agent = state.join("agent.sh");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\nif [ ! -f {marker} ]; then touch {marker}; echo 'the build broke' >&2; exit 2; fi\nexec sh {example}\n",
            marker = state.join("failed-once").display(),
            example = aipm_tests::repo_root().join("scripts/example-agent.sh").display()
        ),
    )
    .expect("the agent script");
    let command = format!("sh {}", agent.display());
    let mut stack = LocalUp::start_with(
        "ui-revisions",
        &[
            ("AIPM_AGENT_COMMAND", command.as_str()),
            ("AIPM_MAX_ATTEMPTS", "1"),
        ],
    )
    .await;
    let story_id = seed_ready_story(&stack, "Export stories as CSV").await;
    let (status, task) = api(
        &stack,
        "POST",
        &format!("/stories/{story_id}/generate-code"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 202, "{task}");
    let story = wait_for_task_end(&stack, story_id).await;
    assert_eq!(story["codeTasks"][0]["status"], "failed", "{story}");

    let browser = Browser::start(&stack.url, "revisions", 1280, 1000).await;
    let phone = Browser::start(&stack.url, "revisions-phone", 390, 844).await;
    with_artifacts("revisions", &[&browser, &phone], || async {
        browser.open(&format!("/#/stories/{story_id}")).await;
        browser.wait_for_text(".task", "the agent exited").await;

        // Generate code & PR again points at the open pull request instead of a second one.
        browser.click_button(".code", "Generate code & PR").await;
        browser.wait_for_text(".code .error-note", "Pull request #1 is still open").await;

        // Retry: a new run on the same branch and pull request, which the worker finishes.
        browser.click_button(".task", "Retry on pull request #1").await;
        browser
            .wait_until_within(
                "the retry succeeded",
                "document.querySelector('.task')?.dataset.taskStatus === 'succeeded'",
                std::time::Duration::from_secs(120),
            )
            .await;
        browser.wait_for_text(".timeline", "First run (retry)").await;

        // Request changes: typed feedback becomes revision 1 of the same pull request.
        browser.type_into("#change-request", "Name the notes after the story, not the task").await;
        browser.click_button(".request-changes", "Request changes").await;
        browser.wait_for_text(".request-changes .ok-note", "Revision 1 is queued on pull request #1").await;
        assert_eq!(browser.value_of("#change-request").await, "", "the form is ready for the next request");
        browser
            .wait_until_within(
                "revision 1 succeeded",
                "document.querySelector('.timeline li:last-child .task-status')?.textContent === 'succeeded'\
                 && document.querySelector('.timeline li:last-child')?.textContent.includes('Revision 1')",
                std::time::Duration::from_secs(120),
            )
            .await;
        browser.wait_for_text(".timeline", "requested in AIPM").await;
        browser.screenshot("revisions").await;

        let (_, story) = api(&stack, "GET", &format!("/stories/{story_id}"), None).await;
        let tasks = story["codeTasks"].as_array().expect("tasks");
        assert_eq!(tasks.len(), 3, "{story}");
        let revision = &tasks[0];
        assert_eq!(revision["kind"], "revise");
        assert_eq!(revision["revision"], 1);
        assert_eq!(revision["prNumber"], tasks[2]["prNumber"]);
        assert_eq!(revision["branch"], tasks[2]["branch"]);
        assert_eq!(revision["triggers"][0]["body"], "Name the notes after the story, not the task");
        let branch = revision["branch"].as_str().expect("a branch");
        let log = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(stack.state.join("repository.git"))
            .args(["log", "--format=%s", branch])
            .output()
            .expect("git log");
        let log = String::from_utf8_lossy(&log.stdout);
        assert!(log.starts_with("Address a change request (revision 1)"), "{log}");

        // The same panel on a phone.
        phone.open(&format!("/#/stories/{story_id}")).await;
        phone.wait_for_text(".timeline", "Revision 1").await;
        let form = phone.element(".request-changes").await;
        phone.scroll_into_view(&form).await;
        phone.screenshot("revisions-phone").await;
    })
    .await;
    browser.close().await;
    phone.close().await;
    stack.stop().await;
}

#[tokio::test]
async fn draft_a_story_from_an_idea_and_suggest_tests_with_ai_off() {
    let mut stack = LocalUp::start_with("ui-drafts", &[("AIPM_LOCAL_WORKER", "off")]).await;
    let browser = Browser::start(&stack.url, "drafts", 1280, 1000).await;
    let phone = Browser::start(&stack.url, "drafts-phone", 390, 844).await;
    with_artifacts("drafts", &[&browser, &phone], || async {
        browser.open("/").await;
        browser.click_button(".tree-head", "New story").await;
        browser.click(".draft-link").await;
        browser
            .wait_for_text(".draft-page h2", "Draft a story from an idea")
            .await;

        // Too short an idea is refused where it was typed, and the text stays.
        browser.type_into("#story-idea", "CSV").await;
        browser.click_button(".idea-form", "Draft story").await;
        browser
            .wait_for_text(".idea-form .error-note", "at least 3 words")
            .await;
        assert_eq!(browser.value_of("#story-idea").await, "CSV");

        browser
            .type_into(
                "#story-idea",
                "CSV export of the story tree. With ids and titles.",
            )
            .await;
        browser.click_button(".idea-form", "Draft story").await;
        browser
            .wait_for_text(".draft-form .provenance", "AI is off for this stage")
            .await;
        assert_eq!(
            browser.value_of("#draft-title").await,
            "CSV export of the story tree"
        );
        // The person edits the draft before creating it.
        browser.type_into("#draft-asA", "product manager").await;
        browser
            .type_into("#draft-soThat", "I can share progress")
            .await;
        browser
            .type_into("#draft-test-0-given", "3 stories exist")
            .await;
        browser
            .type_into("#draft-test-0-then", "a CSV with 3 rows is downloaded")
            .await;
        browser.screenshot("draft-from-idea").await;
        browser
            .click_button(".draft-form", "Create story with 1 test")
            .await;
        let story_id = current_story_id(&browser).await;
        browser
            .wait_for_text(".story-page h2", "CSV export of the story tree")
            .await;
        let (_, story) = api(&stack, "GET", &format!("/stories/{story_id}"), None).await;
        assert_eq!(story["asA"], "product manager");
        assert_eq!(story["soThat"], "I can share progress");
        assert_eq!(story["acceptanceTests"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            story["acceptanceTests"][0]["then"],
            json!(["a CSV with 3 rows is downloaded"])
        );

        // Suggest tests: the template suggestion is marked as such and added on request.
        browser
            .type_into("#suggest-focus", "an empty story tree")
            .await;
        browser
            .click_button(".suggest-tests", "Suggest tests")
            .await;
        browser
            .wait_for_text(".suggest-tests .provenance", "template draft")
            .await;
        browser
            .click_button(".suggested-test", "Add this test")
            .await;
        browser.wait_for_text(".suggested-test", "Added").await;
        browser
            .wait_for_text("#tests-heading", "Acceptance tests (2)")
            .await;

        phone.open(&format!("/#/stories/{story_id}")).await;
        phone
            .wait_for_text("#tests-heading", "Acceptance tests (2)")
            .await;
        let suggest = phone.element(".suggest-tests").await;
        phone.scroll_into_view(&suggest).await;
        phone.screenshot("suggest-tests-phone").await;
    })
    .await;
    browser.close().await;
    phone.close().await;
    stack.stop().await;
}
