//! Planning in a real Chromium against `scripts/local-up`: a blocker added from the story page
//! shows as an arrow in the mindmap and a badge on the board; the mindmap works with the keyboard
//! alone and remembers what is collapsed; Done is refused naming the blocker until the blocker is
//! Done, and then the badge is gone; a filtered board survives a reload; the workload heat map's
//! cells are the sums the test computes; and over the API, two link writes sent at once that
//! would close a loop cannot both land.

use aipm_tests::LocalUp;
use aipm_tests::browser::Browser;
use futures::FutureExt;
use serde_json::{Value, json};

async fn story(stack: &LocalUp, fields: Value) -> u64 {
    let mut body = json!({"asA": "shopper", "iWant": "to pay", "soThat": "I get my order"});
    if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
        body.extend(fields.clone());
    }
    stack.call("POST", "/stories", Some(body)).await["id"]
        .as_u64()
        .expect("an id")
}

/// Ready, then In Progress, with one passing acceptance test: one step from Done.
async fn in_progress_with_a_passing_test(stack: &LocalUp, id: u64) {
    let test = stack
        .call(
            "POST",
            &format!("/stories/{id}/tests"),
            Some(json!({"title": "Pays", "given": ["a cart"], "when": ["the shopper pays"], "then": ["the order is paid"]})),
        )
        .await;
    let test_id = test["id"].as_str().expect("a test id");
    stack
        .call(
            "PATCH",
            &format!("/stories/{id}/tests/{test_id}"),
            Some(json!({"status": "Pass"})),
        )
        .await;
    for status in ["Ready", "In Progress"] {
        stack
            .call(
                "PATCH",
                &format!("/stories/{id}"),
                Some(json!({"status": status, "acceptWarnings": true})),
            )
            .await;
    }
}

/// Gives the mindmap the keyboard and presses ↓ until the story it announces starts with
/// `named`.
async fn keyboard_to(browser: &Browser, named: &str) {
    browser
        .wait_until(
            "the map has the keyboard",
            "(document.querySelector('.mindmap-frame').focus(), document.activeElement.classList.contains('mindmap-frame'))",
        )
        .await;
    for _ in 0..8 {
        let now = browser
            .wait_until(
                "a story is announced",
                "document.querySelector('.mindmap [aria-live]').textContent || false",
            )
            .await;
        if now.as_str().unwrap_or_default().starts_with(named) {
            return;
        }
        browser.press(fantoccini::key::Key::Down).await;
    }
    panic!("↓ never reached {named}");
}

/// Chooses Done in a board card's "Move to" menu, as a keyboard or phone user does.
async fn move_to_done(browser: &Browser, id: u64) {
    browser
        .element(&format!("#move-{id}"))
        .await
        .select_by_value("Done")
        .await
        .expect("choose Done");
}

fn number(id: u64) -> u64 {
    id & u64::from(u32::MAX)
}

#[tokio::test]
async fn a_blocker_holds_done_back_on_the_board_and_a_filtered_board_survives_a_reload() {
    let mut stack = LocalUp::start_with("ui-planning", &[("AIPM_LOCAL_WORKER", "off")]).await;

    // Two writes at once that together would close a loop: one lands, the other names it.
    let left = story(&stack, json!({"title": "Left", "storyPoint": 3})).await;
    let right = story(&stack, json!({"title": "Right", "storyPoint": 5})).await;
    let link = |from: u64, to: u64| {
        let stack = &stack;
        async move {
            stack
                .send(
                    "PUT",
                    &format!("/projects/AIPM/stories/{from}/links"),
                    Some(json!({"blockedBy": [to]})),
                )
                .await
        }
    };
    let (first, second) = tokio::join!(link(left, right), link(right, left));
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
    let refused = if first.0 == 409 { &first.1 } else { &second.1 };
    assert_eq!(refused["error"]["code"], "LINK_CYCLE", "{refused}");
    assert_eq!(
        refused["error"]["details"]["cycle"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    let epic = story(
        &stack,
        json!({"title": "Checkout", "storyPoint": 8, "assigneeEmail": "ada@example.test", "components": ["web", "api"]}),
    )
    .await;
    let payments = story(
        &stack,
        json!({"title": "Payments", "parentId": epic, "assigneeEmail": "ada@example.test", "components": ["api"]}),
    )
    .await;
    let button = story(
        &stack,
        json!({"title": "Checkout button", "parentId": epic, "assigneeEmail": "ben@example.test", "components": ["web"]}),
    )
    .await;
    in_progress_with_a_passing_test(&stack, payments).await;
    in_progress_with_a_passing_test(&stack, button).await;

    let browser = Browser::start(&stack.url, "planning", 1280, 900).await;
    let outcome = std::panic::AssertUnwindSafe(async {
        // The blocker, added from the story page by its key.
        browser.open(&format!("/#/stories/{button}")).await;
        browser.wait_for_text(".dependencies", "No dependencies.").await;
        browser
            .type_into("#link-story", &format!("AIPM-{}", number(payments)))
            .await;
        browser.click_button(".dependencies", "Add link").await;
        let panel = browser.wait_for_text(".dependencies", "Blocked by").await;
        assert!(panel.contains("Payments"), "{panel}");
        browser
            .wait_for_text("#story-heading", &format!("Blocked by AIPM-{}", number(payments)))
            .await;
        browser.screenshot("planning-story-dependencies").await;

        // The mindmap: the dependency arrow and the blocked mark, then the keyboard alone.
        browser.open("/#/mindmap").await;
        browser
            .wait_until(
                "the open blocker's arrow",
                &format!("!!document.querySelector(\".mindmap-arrow.open[data-from='{payments}'][data-to='{button}']\")"),
            )
            .await;
        browser
            .wait_until(
                "the blocked mark",
                &format!("!!document.querySelector(\".mindmap-node.waiting[data-id='{button}']\")"),
            )
            .await;
        browser.screenshot("planning-mindmap").await;
        let spoken = "document.querySelector('.mindmap [aria-live]').textContent";
        let epic_named = format!("AIPM-{} Checkout,", number(epic));
        keyboard_to(&browser, &epic_named).await;
        let child_shown = format!("!!document.querySelector(\".mindmap-node[data-id='{payments}']\")");
        browser.press(fantoccini::key::Key::Left).await;
        browser.wait_until("← collapses the epic", &format!("!{child_shown}")).await;
        // Collapsed stays collapsed in this browser.
        browser.open("/#/").await;
        browser.open("/#/mindmap").await;
        browser.wait_until("the map is drawn", "!!document.querySelector('.mindmap-node')").await;
        browser.wait_until("still collapsed", &format!("!{child_shown}")).await;
        keyboard_to(&browser, &epic_named).await;
        browser.press(fantoccini::key::Key::Right).await;
        browser.wait_until("→ expands it", &child_shown).await;
        browser
            .element(".mindmap-frame")
            .await
            .send_keys("+")
            .await
            .expect("zoom in");
        browser
            .wait_until(
                "+ zooms in",
                "document.querySelector('.mindmap-view').getAttribute('transform').includes('scale(1.25')",
            )
            .await;
        browser.press(fantoccini::key::Key::Right).await;
        browser
            .wait_until("→ steps to a child", &format!("{spoken}.includes('AIPM-{}')", number(payments)))
            .await;
        browser.press(fantoccini::key::Key::Enter).await;
        browser
            .wait_until(
                "Enter opens the story",
                &format!("location.hash.endsWith('/stories/{payments}')"),
            )
            .await;

        // A key that names no story of the project is refused where it was typed.
        browser.type_into("#link-story", "AIPM-999").await;
        browser.click_button(".dependencies", "Add link").await;
        browser
            .wait_for_text(".dependencies .error-note", "LINK_TARGET_NOT_FOUND")
            .await;
        assert_eq!(browser.value_of("#link-story").await, "AIPM-999");

        // A maintainer's limit on In Progress, set on the People page; the board shows the badge
        // and the column past its limit; Done is refused naming the blocker.
        browser.open("/#/people").await;
        browser.type_into("input[name='wip-In Progress']", "1").await;
        browser.click_button(".wip-limits", "Save limits").await;
        browser.wait_for_text(".wip-limits", "Saved.").await;
        browser.open("/#/board").await;
        browser
            .wait_for_text(
                ".column[data-status='In Progress'] .wip-warning",
                "2 stories, over the limit of 1",
            )
            .await;
        let card = format!(".card[data-id='{button}']");
        browser
            .wait_for_text(&card, &format!("Blocked by AIPM-{}", number(payments)))
            .await;
        move_to_done(&browser, button).await;
        let refusal = browser.wait_for_text(&format!("{card} .refusal"), "Blocked by").await;
        assert!(refusal.contains("Payments"), "{refusal}");
        browser.screenshot("planning-done-refused").await;

        // The blocker goes Done; the badge goes with it, and Done is allowed.
        move_to_done(&browser, payments).await;
        browser
            .wait_until(
                "the badge is gone",
                &format!(
                    "!document.querySelector(\"{card} .chip-waiting\") && document.querySelector(\".card[data-id='{payments}']\")?.closest('[data-status]')?.dataset.status === 'Done'"
                ),
            )
            .await;
        move_to_done(&browser, button).await;
        browser
            .wait_until(
                "the button's card is Done",
                &format!("document.querySelector(\"{card}\")?.closest('[data-status]')?.dataset.status === 'Done'"),
            )
            .await;

        // A filtered board: in the URL, and the same after a reload.
        browser
            .element(".board-filters select[name='assignee']")
            .await
            .select_by_value("ada@example.test")
            .await
            .expect("choose ada");
        let only_payments = format!(
            "[...document.querySelectorAll('.board .card')].map(c => c.dataset.id).join(',') === '{epic},{payments}'"
        );
        browser.wait_until("only ada's stories", &only_payments).await;
        let address = browser
            .wait_until("the filter is in the URL", "location.hash.includes('assignee=ada') && location.hash")
            .await;
        let address = address.as_str().expect("the hash").to_owned();
        browser.open(&format!("/{address}")).await;
        browser.wait_until("only ada's stories after a reload", &only_payments).await;
        assert_eq!(
            browser.value_of(".board-filters select[name='assignee']").await,
            "ada@example.test"
        );
        browser.wait_for_text(".board-count", "2 of").await;
        browser.screenshot("planning-board-filtered").await;

        // Swimlanes by epic, and the epic filter takes the whole subtree.
        browser
            .open(&format!("/#/board?lanes=epic&epic={epic}"))
            .await;
        browser
            .wait_until(
                "one lane with the epic and its two children",
                &format!(
                    "document.querySelectorAll('.lane').length === 1 && document.querySelectorAll('.lane .card').length === 3 && !document.querySelector(\".card[data-id='{left}']\")"
                ),
            )
            .await;
        browser.screenshot("planning-board-lanes").await;

        // The workload heat map: each cell is the sum of its open stories' points, computed here
        // from the API's listing.
        let listed = stack.call("GET", "/stories?limit=500", None).await;
        let mut expected = std::collections::BTreeMap::new();
        for story in listed["stories"].as_array().expect("stories") {
            if story["status"] == "Done" {
                continue;
            }
            let person = story["assigneeEmail"].as_str().unwrap_or("Unassigned").to_owned();
            let points = story["storyPoint"].as_u64().unwrap_or(0);
            let components: Vec<String> = story["components"]
                .as_array()
                .map(|list| list.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let components = if components.is_empty() { vec!["No component".to_owned()] } else { components };
            for component in components {
                *expected.entry(format!("{person}|{component}")).or_insert(0u64) += points;
            }
        }
        assert_eq!(expected.get("ada@example.test|web"), Some(&8), "{expected:?}");
        browser.open("/#/workload").await;
        browser.wait_until("the heat map", "!!document.querySelector('table.heatmap button.cell')").await;
        let shown = browser
            .wait_until(
                "the cells",
                "JSON.stringify(Object.fromEntries([...document.querySelectorAll('table.heatmap button.cell')].map(b => [b.dataset.person + '|' + b.dataset.component, Number(b.textContent)])))",
            )
            .await;
        let shown: std::collections::BTreeMap<String, u64> =
            serde_json::from_str(shown.as_str().expect("JSON")).expect("a map");
        assert_eq!(shown, expected);
        browser
            .click("table.heatmap button.cell[data-person='ada@example.test'][data-component='web']")
            .await;
        let cell = browser.wait_for_text(".workload-stories", "8 points").await;
        assert!(cell.contains("Checkout"), "{cell}");
        browser.screenshot("planning-workload").await;
    })
    .catch_unwind()
    .await;
    if outcome.is_err() {
        browser
            .save_failure(
                "a_blocker_holds_done_back_on_the_board_and_a_filtered_board_survives_a_reload",
            )
            .await;
    }
    browser.close().await;

    // A phone: the filters wrap and the page is no wider than the screen.
    let phone = Browser::start(&stack.url, "planning-phone", 390, 800).await;
    phone.open(&format!("/#/board?epic={epic}")).await;
    phone.wait_for_text(".board-count", "3 of").await;
    phone
        .wait_until(
            "the page is no wider than the phone",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    phone.screenshot("planning-board-phone").await;
    phone.close().await;
    stack.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
