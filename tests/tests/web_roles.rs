//! Roles in the UI, in a real Chromium against `scripts/local-up`: an admin invites someone by
//! email as a viewer on the People page; they open the link and accept; they see the story with
//! Generate code & PR disabled and the reason beside it; the admin makes them a contributor; the
//! same person then generates code and the worker takes the task to `succeeded`. And projects: an admin starts one from "My projects", works in it
//! (its stories numbered KEY-n), switches back, and someone who is not a member cannot see it.

use std::time::Duration;

use aipm_tests::LocalUp;
use aipm_tests::browser::Browser;
use futures::FutureExt;
use serde_json::{Value, json};

async fn as_admin(stack: &LocalUp, method: &str, path: &str, body: Option<Value>) -> Value {
    stack.call(method, path, body).await
}

/// Makes the page act as a local person, as the "Acting as" menu does, and opens `path`.
/// Links SHOP to `owner/repo` (or unlinks it, both empty) in its settings, then waits for the
/// story's Generate code & PR to give `reason`.
async fn link_repository(
    browser: &Browser,
    (owner, repo): (&str, &str),
    story: &str,
    reason: &str,
) {
    browser
        .open(&format!("/?link={owner}#/p/SHOP/people"))
        .await;
    browser.type_into("#settings-owner", owner).await;
    browser.type_into("#settings-repo", repo).await;
    browser
        .click_button(".settings-form", "Save settings")
        .await;
    browser.wait_for_text(".settings-form", "Saved.").await;
    browser
        .open(&format!("/?linked={owner}#/p/SHOP/stories/{story}"))
        .await;
    browser.wait_for_text("#generate-reason", reason).await;
}

/// `installation_repositories` `action` (added or removed) for the local repository, signed
/// with the local stack's webhook secret as GitHub signs it; the status the webhook answers.
async fn deliver_installation(stack: &LocalUp, action: &str) -> u16 {
    let body = json!({
        "action": action,
        "installation": {"id": 5, "account": {"login": "local", "type": "Organization"}},
        "repository_selection": "selected",
        format!("repositories_{action}"): [{"id": 42, "name": "aipm", "full_name": "local/aipm", "private": true}],
        "sender": {"login": "octo-admin", "type": "User"}
    });
    stack
        .deliver_webhook(
            "installation_repositories",
            &format!("installation-{action}"),
            &body,
        )
        .await
        .0
}

#[tokio::test]
async fn an_invited_viewer_sees_why_an_admin_promotes_them_and_they_ship_code() {
    let mut stack = LocalUp::start("ui-roles").await;
    let story = as_admin(
        &stack,
        "POST",
        "/stories",
        Some(json!({
            "title": "Export stories as CSV",
            "asA": "product manager",
            "iWant": "a CSV export of the story tree",
            "soThat": "I can share progress with stakeholders",
            "storyPoint": 3
        })),
    )
    .await["id"]
        .as_u64()
        .expect("a story id");
    as_admin(
        &stack,
        "POST",
        &format!("/stories/{story}/tests"),
        Some(json!({
            "title": "Export",
            "given": ["3 stories exist"],
            "when": ["the PM exports the tree"],
            "then": ["a CSV with 3 rows is downloaded"]
        })),
    )
    .await;
    as_admin(
        &stack,
        "PATCH",
        &format!("/stories/{story}"),
        Some(json!({"status": "Ready"})),
    )
    .await;

    let viewer = Browser::start(&stack.url, "viewer", 1280, 900).await;
    let admin = Browser::start(&stack.url, "admin", 1280, 900).await;
    let outcome = std::panic::AssertUnwindSafe(async {
        // The admin invites Oz (not a member yet) as a viewer and gets the link to send.
        admin.act_as("local-admin", "#/people").await;
        admin.type_into("#invite-email", "oz@aipm.local").await;
        admin
            .element("#invite-role")
            .await
            .select_by_value("viewer")
            .await
            .expect("choose viewer");
        admin.click_button(".invitations form", "Invite").await;
        admin
            .wait_for_text(".invitation[data-email='oz@aipm.local']", "pending")
            .await;
        let link = admin.value_of("#invitation-link").await;
        assert!(link.contains("#/join/"), "{link}");
        admin.screenshot("invitation-link").await;

        // Oz opens the link and joins.
        viewer.act_as("local-outsider", "#/projects").await;
        let join = link
            .split_once('#')
            .map(|(_, fragment)| format!("#{fragment}"))
            .expect("a fragment");
        viewer.open(&format!("/?join=1{join}")).await;
        viewer.click_button(".join", "Accept invitation").await;
        viewer.wait_for_text("#join-heading", "You joined").await;
        viewer.wait_for_text(".join", "viewer").await;
        viewer.screenshot("invitation-accepted").await;
        // The link is single use.
        viewer.open(&format!("/?again=0{join}")).await;
        viewer.click_button(".join", "Accept invitation").await;
        viewer.wait_for_text(".join .error-note", "already been used").await;

        viewer.open(&format!("/?joined=1#/stories/{story}")).await;
        viewer
            .wait_for_text(
                "#generate-reason",
                "needs the contributor role; you are viewer",
            )
            .await;
        viewer.wait_for_text(".project-role", "viewer").await;
        let disabled = viewer
            .wait_until(
                "Generate code & PR is disabled",
                "[...document.querySelectorAll('.code button.primary')].some((b) => b.disabled)",
            )
            .await;
        assert_eq!(disabled, json!(true));
        viewer
            .wait_for_text("#status-denied", "needs the contributor role")
            .await;
        let read_only = viewer
            .wait_until(
                "the story form is read-only",
                "document.getElementById('story-title')?.readOnly === true",
            )
            .await;
        assert_eq!(read_only, json!(true));
        viewer.screenshot("viewer-story").await;

        // The admin promotes them on the People page.
        admin.act_as("local-admin", "#/people").await;
        admin
            .wait_for_text(".member[data-sub='local-outsider']", "Oz Outsider")
            .await;
        let select = admin.element("#role-local-outsider").await;
        select
            .select_by_value("contributor")
            .await
            .expect("choose contributor");
        admin
            .wait_until(
                "the promotion is stored and shown",
                "document.getElementById('role-local-outsider')?.value === 'contributor' \
                 && !document.getElementById('role-local-outsider').disabled",
            )
            .await;
        let overflow = admin
            .wait_until(
                "the people page is measured",
                "JSON.stringify([...document.querySelectorAll('body *')]\
                   .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)\
                   .map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)))",
            )
            .await;
        assert_eq!(overflow, json!("[]"), "elements wider than the window");
        admin.screenshot("people").await;
        // The same page on a phone: every member's role is still one menu away.
        let phone = Browser::start(&stack.url, "people-phone", 390, 844).await;
        phone.act_as("local-admin", "#/people").await;
        phone
            .wait_for_text(".member[data-sub='local-outsider']", "Oz Outsider")
            .await;
        let fits = phone
            .wait_until(
                "the page is no wider than the phone",
                "document.documentElement.scrollWidth <= window.innerWidth",
            )
            .await;
        assert_eq!(fits, json!(true));
        phone.screenshot("people-phone").await;
        phone.close().await;
        // The last admin cannot be demoted: the refusal shows on that row.
        let own = admin.element("#role-local-admin").await;
        own.select_by_value("viewer").await.expect("choose viewer");
        admin
            .wait_for_text(".member[data-sub='local-admin'] .error-note", "last admin")
            .await;

        // The same person, next page load: a contributor who ships code.
        viewer.open(&format!("/?again=1#/stories/{story}")).await;
        viewer.wait_for_text(".project-role", "contributor").await;
        viewer
            .wait_until(
                "Generate code & PR is enabled",
                "[...document.querySelectorAll('.code button.primary')].some((b) => !b.disabled \
                 && b.textContent.includes('Generate code'))",
            )
            .await;
        viewer.click_button(".code", "Generate code & PR").await;
        viewer
            .wait_until_within(
                "the worker finished the task",
                "document.querySelector('.task')?.dataset.taskStatus === 'succeeded'",
                Duration::from_secs(120),
            )
            .await;
        viewer.screenshot("contributor-shipped").await;
    })
    .catch_unwind()
    .await;
    if let Err(panic) = outcome {
        viewer.save_failure("roles-viewer").await;
        admin.save_failure("roles-admin").await;
        std::panic::resume_unwind(panic);
    }
    viewer.close().await;
    admin.close().await;
    stack.stop().await;
}

#[tokio::test]
async fn an_admin_starts_a_project_works_in_it_and_an_outsider_cannot_see_it() {
    let mut stack = LocalUp::start_with("ui-projects", &[("AIPM_LOCAL_WORKER", "off")]).await;
    as_admin(
        &stack,
        "POST",
        "/stories",
        Some(json!({"title": "Lives in the default project"})),
    )
    .await;
    let admin = Browser::start(&stack.url, "projects-admin", 1280, 900).await;
    let outsider = Browser::start(&stack.url, "projects-outsider", 390, 844).await;
    let outcome = std::panic::AssertUnwindSafe(async {
        admin.act_as("local-admin", "#/projects").await;
        admin
            .wait_for_text(".project-list li[data-key='AIPM']", "admin")
            .await;
        // A key that is taken: the refusal sits beside the key, and what was typed stays.
        admin.type_into("#project-key", "aipm").await;
        admin.type_into("#project-name", "Web shop").await;
        admin.type_into("#project-owner", "acme").await;
        admin.type_into("#project-repo", "shop").await;
        admin.click_button(".create-project", "Create project").await;
        admin.wait_for_text("#project-key-error", "AIPM").await;
        assert_eq!(admin.value_of("#project-name").await, "Web shop");
        assert_eq!(admin.value_of("#project-owner").await, "acme");
        admin.screenshot("project-key-taken").await;

        admin.type_into("#project-key", "shop").await;
        assert_eq!(admin.value_of("#project-key").await, "SHOP", "keys are capitals");
        admin.click_button(".create-project", "Create project").await;
        admin
            .wait_until(
                "the new project is open",
                "location.hash === '#/p/SHOP/' \
                 && document.querySelector('.project-switcher select')?.value === 'SHOP'",
            )
            .await;
        admin.wait_for_text(".tree", "No stories yet").await;
        admin.wait_for_text(".project-role", "admin").await;
        admin.click_button(".tree-head", "New story").await;
        admin.type_into("#new-story-title", "Checkout with a saved card").await;
        admin.click_button(".tree form", "Create story").await;
        admin.wait_for_text(".story-page h2", "SHOP-1").await;
        admin.wait_for_text(".tree", "SHOP-1").await;
        let hash = admin
            .wait_until("the address names the project", "location.hash")
            .await;
        assert!(
            hash.as_str().unwrap_or_default().starts_with("#/p/SHOP/stories/"),
            "{hash}"
        );
        admin.screenshot("project-shop").await;

        // The tree loads level by level: after a reload only the top level is read, with each
        // story's child count; opening a branch loads it; a link to a child opens its branch.
        let shop_one = hash
            .as_str()
            .and_then(|hash| hash.rsplit('/').next())
            .expect("the story's id")
            .to_owned();
        let child = as_admin(
            &stack,
            "POST",
            "/projects/SHOP/stories",
            Some(json!({"title": "Remember the card", "parentId": shop_one.parse::<u64>().unwrap()})),
        )
        .await["id"]
            .as_u64()
            .expect("an id");
        admin.open("/?levels=1#/p/SHOP/").await;
        admin.wait_for_text(".tree-row .count", "0/1 done").await;
        let unloaded = admin
            .wait_until(
                "the child is not read before its branch opens",
                "!document.querySelector('.tree').textContent.includes('Remember the card')",
            )
            .await;
        assert_eq!(unloaded, json!(true));
        admin.click(".tree-row .twisty").await;
        admin.wait_for_text(".tree", "Remember the card").await;
        admin.open(&format!("/?deep=1#/p/SHOP/stories/{child}")).await;
        admin.wait_for_text(".story-page h2", "SHOP-2").await;
        admin
            .wait_until(
                "the branch of a linked story opens",
                "document.querySelector('.tree-row.selected')?.textContent.includes('Remember the card')",
            )
            .await;

        // Without a repository, Generate code & PR says so instead of failing; linked, it is
        // back to the story's own reasons.
        link_repository(&admin, ("", ""), &shop_one, "no code repository yet").await;
        let reason = admin.element("#generate-reason").await;
        admin.scroll_into_view(&reason).await;
        admin.screenshot("project-without-repository").await;
        link_repository(&admin, ("local", "aipm"), &shop_one, "Only Ready or In Progress").await;

        // The GitHub App removed from that repository: the link is disconnected, the API
        // refuses Generate code & PR, and the story page and the settings say why. Added back,
        // the story's own reasons return.
        assert_eq!(deliver_installation(&stack, "removed").await, 200);
        admin
            .open(&format!("/?disconnected=1#/p/SHOP/stories/{shop_one}"))
            .await;
        admin
            .wait_for_text("#generate-reason", "local/aipm is disconnected")
            .await;
        let reason = admin.element("#generate-reason").await;
        admin.scroll_into_view(&reason).await;
        admin.screenshot("repository-disconnected").await;
        let refused = reqwest::Client::new()
            .post(format!(
                "{}/projects/SHOP/stories/{shop_one}/generate-code",
                stack.url
            ))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(refused.status().as_u16(), 409);
        let refused: Value = refused.json().await.expect("a JSON error");
        assert_eq!(refused["error"]["code"], "REPOSITORY_DISCONNECTED");
        admin.open("/?disconnected=2#/p/SHOP/people").await;
        admin
            .wait_for_text(".project-settings", "Disconnected: the GitHub App cannot reach local/aipm")
            .await;
        let note = admin.element(".disconnected-note").await;
        admin.scroll_into_view(&note).await;
        admin.screenshot("settings-repository-disconnected").await;
        assert_eq!(deliver_installation(&stack, "added").await, 200);
        admin
            .open(&format!("/?reconnected=1#/p/SHOP/stories/{shop_one}"))
            .await;
        admin
            .wait_for_text("#generate-reason", "Only Ready or In Progress")
            .await;

        // More repositories: linked in the settings (one of another account is refused beside
        // the form, and what was typed stays), picked on the story page as the task's target,
        // and made the default.
        admin.open("/?repositories=1#/p/SHOP/people").await;
        admin.type_into("#link-repository-name", "elsewhere/lib").await;
        admin
            .click_button(".link-repository", "Link repository")
            .await;
        admin
            .wait_for_text(".link-repository .error-note", "another GitHub account")
            .await;
        assert_eq!(admin.value_of("#link-repository-name").await, "elsewhere/lib");
        admin.type_into("#link-repository-name", "local/docs").await;
        // The local git host has one remote, whose base is main.
        admin.type_into("#link-repository-branch", "main").await;
        admin
            .click_button(".link-repository", "Link repository")
            .await;
        admin
            .wait_for_text(".linked-repository[data-repository='local/docs']", "(main)")
            .await;
        let list = admin.element(".linked-repositories").await;
        admin.scroll_into_view(&list).await;
        admin.screenshot("settings-repositories").await;
        let ready = as_admin(
            &stack,
            "POST",
            "/projects/SHOP/stories",
            Some(json!({"title": "Docs for saved cards", "asA": "shopper",
                        "iWant": "to read how saved cards work", "soThat": "I trust them",
                        "storyPoint": 1})),
        )
        .await["id"]
            .as_u64()
            .expect("an id");
        as_admin(
            &stack,
            "POST",
            &format!("/projects/SHOP/stories/{ready}/tests"),
            Some(json!({"title": "Read", "given": ["a saved card"],
                        "when": ["the shopper opens the docs"],
                        "then": ["the page explains saved cards"]})),
        )
        .await;
        as_admin(
            &stack,
            "PATCH",
            &format!("/projects/SHOP/stories/{ready}"),
            Some(json!({"status": "Ready"})),
        )
        .await;
        admin
            .open(&format!("/?target=1#/p/SHOP/stories/{ready}"))
            .await;
        admin
            .element("#target-repository")
            .await
            .select_by_value("local/docs")
            .await
            .expect("choose local/docs");
        admin.click_button(".code", "Generate code & PR").await;
        admin.wait_for_text(".task-facts", "local/docs").await;
        let facts = admin.element(".task-facts").await;
        admin.scroll_into_view(&facts).await;
        admin.screenshot("generate-in-another-repository").await;
        let story = as_admin(&stack, "GET", &format!("/projects/SHOP/stories/{ready}"), None).await;
        assert_eq!(
            story["codeTasks"][0]["repository"]["name"], "docs",
            "the task works in the repository chosen: {story}"
        );
        // The story as a .feature file, each test a scenario tagged with its key: built when
        // asked for, downloaded, and read back here as the person's file.
        admin.wait_for_text(".test-key", "AT-1").await;
        admin
            .click_button(".feature-download", "Download .feature")
            .await;
        let feature = admin.downloaded("SHOP-3.feature").await;
        assert!(feature.starts_with("@SHOP-3\nFeature: Docs for saved cards\n"), "{feature}");
        assert!(
            feature.contains("  @AT-1\n  Scenario: Read\n    Given a saved card\n    When the shopper opens the docs\n    Then the page explains saved cards\n"),
            "{feature}"
        );
        admin.open("/?repositories=2#/p/SHOP/people").await;
        admin
            .click_button(".linked-repository[data-repository='local/docs']", "Make default")
            .await;
        admin
            .wait_until(
                "local/docs is the default",
                "document.querySelector('.badge-default')?.closest('li')?.dataset.repository === 'local/docs' \
                 && document.querySelector(\".linked-repository[data-repository='local/aipm'] button\") !== null",
            )
            .await;

        // Settings: archiving makes the project read-only, with the reason shown; restoring
        // undoes it; a new key becomes the address and the old one keeps working.
        admin.open("/?settings=3#/p/SHOP/people").await;
        admin.click_button(".project-settings", "Archive project").await;
        admin.wait_for_text(".archived-note", "archived").await;
        admin.screenshot("project-archived").await;
        admin.open("/?archived=1#/p/SHOP/").await;
        let read_only = admin
            .wait_until(
                "New story is disabled in an archived project",
                "document.querySelector('.tree-head button')?.disabled === true \
                 && document.querySelector('.tree-head button').title.includes('archived')",
            )
            .await;
        assert_eq!(read_only, json!(true));
        admin.open("/?restore=1#/p/SHOP/people").await;
        admin.click_button(".project-settings", "Restore project").await;
        admin
            .wait_until(
                "the project is restored",
                "!document.querySelector('.archived-note') \
                 && document.querySelector('.project-settings .archive button')?.textContent === 'Archive project'",
            )
            .await;
        admin.type_into("#settings-key", "store").await;
        admin.click_button(".settings-form", "Save settings").await;
        admin
            .wait_until("the new key is the address", "location.hash === '#/p/STORE/people'")
            .await;
        admin.open("/?oldkey=1#/p/SHOP/").await;
        admin.wait_for_text(".tree", "Checkout with a saved card").await;
        admin.wait_for_text(".tree", "STORE-1").await;

        // Back to the default project through the switcher: its own stories only.
        admin
            .element(".project-switcher select")
            .await
            .select_by_value("AIPM")
            .await
            .expect("choose AIPM");
        admin
            .wait_for_text(".tree", "Lives in the default project")
            .await;
        let mixed = admin
            .wait_until(
                "the tree shows one project",
                "!document.querySelector('.tree').textContent.includes('Checkout with a saved card')",
            )
            .await;
        assert_eq!(mixed, json!(true));
        // A reload of a bare address comes back to the project opened last.
        admin.open("/?reload=1").await;
        admin
            .wait_until(
                "the last project reopens",
                "location.hash === '#/p/AIPM/'",
            )
            .await;

        // Someone who is not a member guesses the address: nothing of it shows.
        outsider.act_as("local-outsider", "#/p/SHOP/").await;
        outsider
            .wait_for_text("#no-access-heading", "not available to you")
            .await;
        let hidden = outsider
            .wait_until(
                "nothing of the project shows",
                "!document.body.textContent.includes('Checkout with a saved card') \
                 && !document.body.textContent.includes('Web shop')",
            )
            .await;
        assert_eq!(hidden, json!(true));
        outsider.screenshot("project-not-a-member-phone").await;
        outsider.act_as("local-outsider", "#/projects").await;
        outsider
            .wait_for_text(".projects-page", "not a member of any project yet")
            .await;
        let fits = outsider
            .wait_until(
                "the page is no wider than the phone",
                "document.documentElement.scrollWidth <= window.innerWidth",
            )
            .await;
        assert_eq!(fits, json!(true));
        outsider.screenshot("projects-phone").await;
    })
    .catch_unwind()
    .await;
    if let Err(panic) = outcome {
        admin.save_failure("projects-admin").await;
        outsider.save_failure("projects-outsider").await;
        std::panic::resume_unwind(panic);
    }
    admin.close().await;
    outsider.close().await;
    stack.stop().await;
}
