//! End to end over HTTP on the local stack: the story lifecycle of a product person — a tree of
//! stories, acceptance tests, INVEST warnings coming and going, the status workflow, racing
//! edits and a cascade delete checked against the tables themselves.

use std::collections::HashSet;

use aipm_tests::HttpStack;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};

/// The story operations these tests repeat, over HTTP.
trait Lifecycle {
    async fn create_story(&self, body: Value) -> u64;
    async fn add_test(&self, story: u64, then: &str) -> String;
    async fn set_status(&self, story: u64, status: &str) -> (u16, Value);
}

impl Lifecycle for HttpStack {
    async fn create_story(&self, body: Value) -> u64 {
        let (status, story) = self.send("POST", "/stories", Some(body)).await;
        assert_eq!(status, 201, "{story}");
        story["id"].as_u64().unwrap()
    }

    async fn add_test(&self, story: u64, then: &str) -> String {
        let (status, test) = self
            .send(
                "POST",
                &format!("/stories/{story}/tests"),
                Some(json!({
                    "title": "Export",
                    "given": ["a story tree with 3 stories"],
                    "when": ["the product manager exports it"],
                    "then": [then]
                })),
            )
            .await;
        assert_eq!(status, 201, "{test}");
        test["id"].as_str().unwrap().to_owned()
    }

    async fn set_status(&self, story: u64, status: &str) -> (u16, Value) {
        self.send(
            "PATCH",
            &format!("/stories/{story}"),
            Some(json!({ "status": status })),
        )
        .await
    }
}

fn warning_codes(story: &Value) -> Vec<String> {
    story["invest"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|warning| warning["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_story_tree_moves_through_the_workflow_over_http() {
    let stack = HttpStack::start().await;

    // A vague parent: INVEST says why.
    let parent = stack
        .create_story(json!({ "title": "Make the export fast and seamless" }))
        .await;
    let child = stack
        .create_story(json!({
            "title": "CSV column mapping", "parentId": parent, "asA": "product manager",
            "iWant": "to pick the CSV columns", "soThat": "reports match our template"
        }))
        .await;
    let (_, story) = stack.send("GET", &format!("/stories/{parent}"), None).await;
    let codes = warning_codes(&story);
    for expected in [
        "MISSING_PERSONA",
        "MISSING_GOAL",
        "MISSING_BENEFIT",
        "UNTESTABLE_ADJECTIVE",
        "NO_ACCEPTANCE_TESTS",
    ] {
        assert!(
            codes.contains(&expected.to_owned()),
            "{expected} missing from {codes:?}"
        );
    }
    assert_eq!(story["children"][0]["id"], child);

    // Ready is refused while INVEST warns and no test exists.
    let (status, refused) = stack.set_status(parent, "Ready").await;
    assert_eq!(status, 409);
    assert_eq!(refused["error"]["code"], "STATUS_TRANSITION_BLOCKED");
    assert_eq!(
        refused["error"]["details"]["reasons"],
        json!(["INVEST_WARNINGS", "NO_ACCEPTANCE_TESTS"])
    );

    // Improving the story and adding a test that observes something clears every warning.
    let (status, improved) = stack
        .send(
            "PATCH",
            &format!("/stories/{parent}"),
            Some(json!({
                "title": "Export the story tree as CSV",
                "asA": "product manager", "iWant": "to export the story tree as CSV",
                "soThat": "I can share progress with stakeholders"
            })),
        )
        .await;
    assert_eq!(status, 200, "{improved}");
    assert_eq!(warning_codes(&improved), ["NO_ACCEPTANCE_TESTS"]);
    let parent_test = stack
        .add_test(parent, "a CSV file with 3 rows is downloaded")
        .await;
    let (_, story) = stack.send("GET", &format!("/stories/{parent}"), None).await;
    assert!(warning_codes(&story).is_empty(), "{story}");
    assert_eq!(story["invest"]["score"], 100);
    assert_eq!(story["acceptanceTests"][0]["gwtHealth"]["healthy"], true);

    let (status, ready) = stack.set_status(parent, "Ready").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(stack.set_status(parent, "In Progress").await.0, 200);

    // The child gets a test and moves along too, accepting a warning on the record.
    let child_test = stack
        .add_test(child, "the CSV header lists the chosen columns")
        .await;
    let (status, child_ready) = stack
        .send(
            "PATCH",
            &format!("/stories/{child}"),
            Some(json!({"status": "Ready", "acceptWarnings": true})),
        )
        .await;
    assert_eq!(status, 200, "{child_ready}");
    assert_eq!(stack.set_status(child, "In Progress").await.0, 200);

    // Done on the parent names the unfinished child and the failing test.
    let (status, _) = stack
        .send(
            "PATCH",
            &format!("/stories/{parent}/tests/{parent_test}"),
            Some(json!({"status": "Fail"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, refused) = stack.set_status(parent, "Done").await;
    assert_eq!(status, 409);
    let details = &refused["error"]["details"];
    assert_eq!(
        details["reasons"],
        json!(["CHILDREN_NOT_DONE", "TESTS_NOT_PASSING"])
    );
    assert_eq!(details["blockingChildren"][0]["id"], child);
    assert_eq!(details["blockingTests"][0]["id"], parent_test.as_str());

    for (story, test) in [(child, &child_test), (parent, &parent_test)] {
        let (status, passed) = stack
            .send(
                "PATCH",
                &format!("/stories/{story}/tests/{test}"),
                Some(json!({"status": "Pass"})),
            )
            .await;
        assert_eq!(status, 200, "{passed}");
    }
    assert_eq!(stack.set_status(child, "Done").await.0, 200);
    let (status, done) = stack.set_status(parent, "Done").await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "Done");

    // Editing the story's narrative flags its tests for review.
    stack
        .send(
            "PATCH",
            &format!("/stories/{parent}"),
            Some(json!({"soThat": "stakeholders see weekly progress"})),
        )
        .await;
    let (_, story) = stack.send("GET", &format!("/stories/{parent}"), None).await;
    assert_eq!(story["acceptanceTests"][0]["needsReview"], true);

    // Children are listable by parent; roots by the lack of one are reachable through the list.
    let (_, children) = stack
        .send("GET", &format!("/stories?parentId={parent}"), None)
        .await;
    assert_eq!(children["stories"][0]["id"], child);
}

#[tokio::test]
async fn racing_edits_keep_every_change_and_refuse_stale_versions() {
    let stack = HttpStack::start().await;
    let story = stack.create_story(json!({"title": "Race me"})).await;

    // Two PATCHes with the same version: exactly one wins.
    let path = format!("/stories/{story}");
    let (first, second) = tokio::join!(
        stack.send(
            "PATCH",
            &path,
            Some(json!({"title": "First", "version": 1}))
        ),
        stack.send(
            "PATCH",
            &path,
            Some(json!({"title": "Second", "version": 1}))
        ),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 412], "{first:?} {second:?}");
    let loser = if first.0 == 412 { &first.1 } else { &second.1 };
    assert_eq!(loser["error"]["code"], "VERSION_MISMATCH");
    assert_eq!(loser["error"]["details"]["currentVersion"], 2);

    // 50 PATCHes of different fields, no version: none is lost.
    let fields = [
        "asA",
        "iWant",
        "soThat",
        "description",
        "storyPoint",
        "assigneeEmail",
        "components",
    ];
    let value_for = |field: &str, n: usize| match field {
        "storyPoint" => json!(n),
        "assigneeEmail" => json!(format!("dev{n}@example.com")),
        "components" => json!([format!("c{n}")]),
        _ => json!(format!("{field} {n}")),
    };
    let patches = (0..50).map(|n| {
        let field = fields[n % fields.len()];
        stack.send("PATCH", &path, Some(json!({ field: value_for(field, n) })))
    });
    for (status, body) in futures::future::join_all(patches).await {
        assert_eq!(status, 200, "{body}");
    }
    let (_, after) = stack.send("GET", &path, None).await;
    assert_eq!(
        after["version"],
        2 + 50,
        "every PATCH must have been applied: {after}"
    );
    assert_eq!(
        after["title"],
        if first.0 == 200 { "First" } else { "Second" }
    );
    for field in fields {
        let written: Vec<Value> = (0..50)
            .filter(|n| fields[n % fields.len()] == field)
            .map(|n| value_for(field, n))
            .collect();
        assert!(
            written.contains(&after[field]),
            "{field} = {} is none of the values sent",
            after[field]
        );
    }
}

#[tokio::test]
async fn a_cascade_delete_leaves_nothing_of_the_subtree_in_the_tables() {
    let stack = HttpStack::start().await;
    let keep = stack
        .create_story(json!({"title": "Unrelated story"}))
        .await;
    let kept_test = stack.add_test(keep, "a file is downloaded").await;
    let root = stack.create_story(json!({"title": "Level 1"})).await;
    let mut subtree = vec![root];
    for n in 0..2 {
        let middle = stack
            .create_story(json!({"title": format!("Level 2.{n}"), "parentId": root}))
            .await;
        subtree.push(middle);
        for m in 0..2 {
            let leaf = stack
                .create_story(json!({"title": format!("Level 3.{n}.{m}"), "parentId": middle}))
                .await;
            subtree.push(leaf);
        }
    }
    for story in &subtree {
        stack.add_test(*story, "a file is downloaded").await;
    }

    let (status, refused) = stack
        .send("DELETE", &format!("/stories/{root}"), None)
        .await;
    assert_eq!(status, 409);
    assert_eq!(refused["error"]["code"], "HAS_CHILDREN");
    let (status, _) = stack
        .send("DELETE", &format!("/stories/{root}?cascade=true"), None)
        .await;
    assert_eq!(status, 204);

    // Read the tables themselves, not the API.
    let sdk = stack.emulator.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let ids_in = |table: String, attribute: &'static str| {
        let dynamodb = dynamodb.clone();
        async move {
            let items = dynamodb
                .scan()
                .table_name(table)
                .send()
                .await
                .unwrap()
                .items
                .unwrap_or_default();
            items
                .iter()
                .filter_map(|item| match item.get(attribute) {
                    Some(AttributeValue::N(number)) => number.parse::<u64>().ok(),
                    _ => None,
                })
                .collect::<HashSet<u64>>()
        }
    };
    let stories = ids_in(stack.setting("AIPM_STORIES_TABLE"), "id").await;
    let tested = ids_in(stack.setting("AIPM_ACCEPTANCE_TESTS_TABLE"), "storyId").await;
    for id in &subtree {
        assert!(!stories.contains(id), "story {id} survived: {stories:?}");
        assert!(!tested.contains(id), "a test of story {id} survived");
    }
    assert!(
        stories.contains(&keep) && tested.contains(&keep),
        "the unrelated story must stay"
    );
    let (status, _) = stack.send("GET", &format!("/stories/{keep}"), None).await;
    assert_eq!(status, 200);
    assert!(!kept_test.is_empty());
}
