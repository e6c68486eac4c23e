//! Nothing lost, in a real Chromium against `scripts/local-up`: an epic deleted with its child,
//! tests and a dependency comes back identical (every story's full view compared) by the Undo
//! right after the delete, and again from the Trash page after a reload; the story's Activity
//! names the person and the fields of a narrative edit, a status move, a test edit and a
//! restore; the project's Activity page lists them with links.

use aipm_tests::LocalUp;
use aipm_tests::browser::Browser;
use futures::FutureExt;
use serde_json::{Value, json};

/// Each story's whole view (narrative, version, tests, links, children) as the API gives it.
async fn snapshot(stack: &LocalUp, ids: &[u64]) -> Vec<Value> {
    let mut views = Vec::new();
    for id in ids {
        views.push(stack.call("GET", &format!("/stories/{id}"), None).await);
    }
    views
}

#[tokio::test]
async fn a_deleted_epic_comes_back_whole_and_the_activity_says_who_changed_what() {
    let mut stack = LocalUp::start_with("ui-history", &[("AIPM_LOCAL_WORKER", "off")]).await;
    let story = |title: &str, parent: Option<u64>| json!({"title": title, "asA": "shopper", "iWant": "to pay by card", "soThat": "I get my order", "parentId": parent});
    let epic = stack
        .call("POST", "/stories", Some(story("Checkout epic", None)))
        .await["id"]
        .as_u64()
        .expect("an id");
    let child = stack
        .call("POST", "/stories", Some(story("Card payment", Some(epic))))
        .await["id"]
        .as_u64()
        .expect("an id");
    let outside = stack
        .call(
            "POST",
            "/stories",
            Some(story("Payment provider contract", None)),
        )
        .await["id"]
        .as_u64()
        .expect("an id");
    let gwt = json!({"title": "Pays", "given": ["a cart"], "when": ["I pay by card"], "then": ["the order is placed"]});
    let epic_test = stack
        .call("POST", &format!("/stories/{epic}/tests"), Some(gwt.clone()))
        .await["id"]
        .as_str()
        .expect("a test id")
        .to_owned();
    stack
        .call("POST", &format!("/stories/{child}/tests"), Some(gwt))
        .await;
    stack
        .call(
            "PUT",
            &format!("/projects/AIPM/stories/{child}/links"),
            Some(json!({"blockedBy": [outside]})),
        )
        .await;
    let ids = [epic, child, outside];
    let before = snapshot(&stack, &ids).await;

    let browser = Browser::start(&stack.url, "history", 1280, 900).await;
    let outcome = std::panic::AssertUnwindSafe(async {
        browser
            .act_as("local-maintainer", &format!("#/stories/{epic}"))
            .await;
        browser
            .wait_for_text("#story-heading", "Checkout epic")
            .await;

        // Delete with its child, then Undo: everything is back as it was.
        browser.click_button(".panel.danger", "Delete story").await;
        let question = browser
            .wait_for_text("#delete-question", "Trash for 30 days")
            .await;
        assert!(question.contains("1 story under it"), "{question}");
        browser
            .click_button(".panel.danger", "Delete 2 stories")
            .await;
        let offer = browser
            .wait_for_text(".undo-bar", "Deleted “Checkout epic” and 1 more")
            .await;
        assert!(offer.contains("Trash for 30 days"), "{offer}");
        browser.screenshot("history-undo-offer").await;
        let (status, _) = stack.send("GET", &format!("/stories/{child}"), None).await;
        assert_eq!(status, 404, "the child went with the epic");
        browser.click_button(".undo-bar", "Undo").await;
        browser
            .wait_for_text(".undo-bar", "Restored 2 stories where they were before")
            .await;
        browser
            .wait_for_text("#story-heading", "Checkout epic")
            .await;
        assert_eq!(snapshot(&stack, &ids).await, before, "identical after Undo");

        // Deleted again, then restored from the Trash page after a reload.
        browser.click_button(".undo-bar", "Dismiss").await;
        browser.click_button(".panel.danger", "Delete story").await;
        browser
            .click_button(".panel.danger", "Delete 2 stories")
            .await;
        browser.wait_for_text(".undo-bar", "Deleted").await;
        browser.open("/#/trash").await;
        let entry = browser.wait_for_text(".trash-entry", "Checkout epic").await;
        assert!(entry.contains("with 1 story under it"), "{entry}");
        assert!(entry.contains("2 acceptance tests"), "{entry}");
        assert!(entry.contains("Deleted by Mo Maintainer"), "{entry}");
        assert!(
            !entry.contains("Delete for good"),
            "only admins purge: {entry}"
        );
        browser.screenshot("history-trash").await;
        browser.click_button(".trash-entry", "Restore").await;
        browser
            .wait_for_text("#story-heading", "Checkout epic")
            .await;
        assert_eq!(
            snapshot(&stack, &ids).await,
            before,
            "identical after a restore from the Trash"
        );
        browser.wait_for_text(".tree", "Checkout epic").await;

        // A narrative edit and a status move, by the maintainer, from the page.
        browser
            .type_into("#story-iWant", "to pay by card or wallet")
            .await;
        browser.click_button(".story-form", "Save changes").await;
        browser.wait_for_text(".story-form", "Saved.").await;
        browser
            .click_button(".panel.status", "Move to Blocked")
            .await;
        let activity = browser
            .wait_for_text(".activity", "moved the story to Blocked")
            .await;
        assert!(
            activity.contains("Mo Maintainer moved the story to Blocked"),
            "{activity}"
        );
        assert!(activity.contains("Mo Maintainer edited"), "{activity}");
        assert!(
            activity.contains("I want: to pay by card → to pay by card or wallet"),
            "{activity}"
        );
        assert!(
            activity.contains("Mo Maintainer restored the story"),
            "{activity}"
        );
        assert!(
            activity
                .contains("Mo Maintainer deleted the story with 2 stories and 2 acceptance tests"),
            "{activity}"
        );

        // A test edit by someone else (the admin, through the API) shows after a reload.
        stack
            .call(
                "PATCH",
                &format!("/stories/{epic}/tests/{epic_test}"),
                Some(json!({"status": "Pass"})),
            )
            .await;
        browser
            .act_as("local-maintainer", &format!("#/stories/{epic}"))
            .await;
        let activity = browser
            .wait_for_text(".activity", "edited acceptance test")
            .await;
        assert!(
            activity.contains("Ada Admin edited acceptance test AT-1"),
            "{activity}"
        );
        assert!(activity.contains("status: Draft → Pass"), "{activity}");
        browser
            .scroll_into_view(&browser.element("#activity-heading").await)
            .await;
        browser.screenshot("history-activity").await;

        // The project's feed: every story's changes, each with a link to its story.
        browser.open("/#/activity").await;
        let feed = browser
            .wait_for_text(".activity-page", "edited acceptance test")
            .await;
        assert!(
            feed.contains(&format!("AIPM-{}", epic % (1 << 32))),
            "{feed}"
        );
        browser.screenshot("history-feed").await;
    })
    .catch_unwind()
    .await;
    if outcome.is_err() {
        browser.save_failure("history").await;
    }
    // On a phone, an admin purges a deleted story for good, after confirming.
    let (status, _) = stack
        .send("DELETE", &format!("/stories/{outside}"), None)
        .await;
    assert_eq!(status, 204);
    let phone = Browser::start(&stack.url, "history-phone", 390, 844).await;
    phone.open("/#/trash").await;
    phone
        .wait_for_text(".trash-entry", "Payment provider contract")
        .await;
    phone
        .wait_until(
            "the page is no wider than the phone",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    phone.screenshot("history-trash-phone").await;
    phone.click_button(".trash-entry", "Delete for good…").await;
    phone.click_button(".trash-entry", "Delete for good").await;
    phone
        .wait_for_text(".trash-page", "The trash is empty.")
        .await;
    let (status, _) = stack
        .send(
            "POST",
            &format!("/projects/AIPM/trash/{outside}/restore"),
            None,
        )
        .await;
    assert_eq!(status, 404, "purged for good");
    phone.close().await;
    browser.close().await;
    stack.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
