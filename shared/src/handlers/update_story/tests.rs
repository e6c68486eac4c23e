//! Unit tests of update-story against the in-memory adapters.
use super::*;
use crate::adapters::memory::MemoryStore;
use crate::adapters::memory_projects::{MemoryProjects, local_gate};
use crate::handlers::test_support::{error_code, json, request, seed_story, seed_test, with_path};
use crate::http::respond;
use crate::model::TestStatus;
use crate::ports::{AcceptanceTestRepository, TestChanges};
use lambda_http::http::Method;
use serde_json::Value;

fn operation(store: &MemoryStore) -> UpdateStory<MemoryStore, MemoryStore, MemoryProjects> {
    UpdateStory::new(store.clone(), store.clone(), local_gate())
}

async fn patch(store: &MemoryStore, id: u64, body: &str, if_match: Option<&str>) -> Response<Body> {
    let mut request = with_path(
        request(Method::PATCH, "/stories/x", body),
        "id",
        &id.to_string(),
    );
    if let Some(value) = if_match {
        request
            .headers_mut()
            .insert("if-match", value.parse().unwrap());
    }
    respond(&operation(store), request).await
}

#[tokio::test]
async fn the_last_editor_is_the_authorizers_subject() {
    use crate::handlers::test_support::authorized_as;
    let store = MemoryStore::new();
    let story = seed_story(&store, "Export", None).await;
    let signed_in = authorized_as(
        with_path(
            request(Method::PATCH, "/stories/x", r#"{"title":"Export as CSV"}"#),
            "id",
            &story.id.to_string(),
        ),
        "user-editor",
    );
    let operation = UpdateStory::new(
        store.clone(),
        store.clone(),
        crate::adapters::memory_projects::jwt_gate(&[(
            "user-editor",
            crate::authz::Role::Contributor,
        )]),
    );
    let updated = json(&respond(&operation, signed_in).await);
    assert_eq!(updated["updatedBy"], "user-editor", "{updated}");
    assert_eq!(updated["version"], 2);
    let stored = crate::ports::StoryRepository::get(&store, story.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.updated_by.as_deref(), Some("user-editor"));
}

#[tokio::test]
async fn changes_only_the_fields_sent_and_bumps_the_version() {
    let store = MemoryStore::new();
    seed_story(&store, "Export", None).await;
    let response = patch(
        &store,
        1,
        r#"{"title":"Export CSV","storyPoint":null}"#,
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let story = json(&response);
    assert_eq!(story["title"], "Export CSV");
    assert_eq!(story["asA"], "product manager");
    assert_eq!(story["version"], 2);
    assert!(story.get("storyPoint").is_none());
    assert!(story["invest"]["warnings"].is_array());
}

#[tokio::test]
async fn a_stale_version_is_412_with_the_current_one() {
    let store = MemoryStore::new();
    seed_story(&store, "Export", None).await;
    assert_eq!(
        patch(&store, 1, r#"{"title":"A"}"#, Some("\"1\""))
            .await
            .status(),
        200
    );
    let stale = patch(&store, 1, r#"{"title":"B"}"#, Some("1")).await;
    assert_eq!(stale.status(), 412);
    assert_eq!(error_code(&stale), "VERSION_MISMATCH");
    assert_eq!(json(&stale)["error"]["details"]["currentVersion"], 2);
    let stale_body = patch(&store, 1, r#"{"title":"B","version":1}"#, None).await;
    assert_eq!(stale_body.status(), 412);
    assert_eq!(
        patch(&store, 1, r#"{"title":"B"}"#, Some("nope"))
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn reparenting_checks_existence_and_cycles() {
    let store = MemoryStore::new();
    seed_story(&store, "Root", None).await;
    seed_story(&store, "Child", Some(1)).await;
    seed_story(&store, "Grandchild", Some(2)).await;
    let cycle = patch(&store, 1, r#"{"parentId":3}"#, None).await;
    assert_eq!(cycle.status(), 409);
    assert_eq!(error_code(&cycle), "PARENT_CYCLE");
    assert_eq!(
        error_code(&patch(&store, 1, r#"{"parentId":1}"#, None).await),
        "PARENT_CYCLE"
    );
    assert_eq!(
        error_code(&patch(&store, 3, r#"{"parentId":99}"#, None).await),
        "PARENT_NOT_FOUND"
    );
    let moved = patch(&store, 3, r#"{"parentId":1}"#, None).await;
    assert_eq!(json(&moved)["parentId"], 1);
    let root = patch(&store, 3, r#"{"parentId":null}"#, None).await;
    assert!(json(&root).get("parentId").is_none());
}

#[tokio::test]
async fn ready_needs_invest_or_accepted_warnings_and_a_test() {
    let store = MemoryStore::new();
    seed_story(&store, "Export", None).await;
    let refused = patch(&store, 1, r#"{"status":"Ready"}"#, None).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(error_code(&refused), "STATUS_TRANSITION_BLOCKED");
    let details = &json(&refused)["error"]["details"];
    assert_eq!(
        details["reasons"],
        serde_json::json!(["INVEST_WARNINGS", "NO_ACCEPTANCE_TESTS"])
    );
    seed_test(&store, 1, "it works").await;
    let refused = patch(&store, 1, r#"{"status":"Ready"}"#, None).await;
    assert_eq!(
        json(&refused)["error"]["details"]["investWarnings"],
        serde_json::json!(["UNOBSERVABLE_THEN"])
    );
    let accepted = patch(
        &store,
        1,
        r#"{"status":"Ready","acceptWarnings":true}"#,
        None,
    )
    .await;
    assert_eq!(accepted.status(), 200);
    let story = json(&accepted);
    assert_eq!(story["status"], "Ready");
    assert_eq!(story["acceptWarnings"], true);
}

#[tokio::test]
async fn done_names_unfinished_children_and_failing_tests() {
    let store = MemoryStore::new();
    seed_story(&store, "Parent", None).await;
    seed_story(&store, "Child", Some(1)).await;
    let test = seed_test(&store, 1, "a CSV with 3 rows is downloaded").await;
    assert_eq!(
        patch(&store, 1, r#"{"status":"Ready"}"#, None)
            .await
            .status(),
        200
    );
    assert_eq!(
        patch(&store, 1, r#"{"status":"In Progress"}"#, None)
            .await
            .status(),
        200
    );
    let refused = patch(&store, 1, r#"{"status":"Done"}"#, None).await;
    let details: Value = json(&refused)["error"]["details"].clone();
    assert_eq!(details["blockingChildren"][0]["id"], 2);
    assert_eq!(details["blockingTests"][0]["id"], test.id.as_str());
    AcceptanceTestRepository::update(
        &store,
        1,
        &test.id,
        &TestChanges {
            status: Some(TestStatus::Pass),
            ..TestChanges::default()
        },
        None,
        Utc::now(),
    )
    .await
    .unwrap();
    let still = json(&patch(&store, 1, r#"{"status":"Done"}"#, None).await);
    assert_eq!(
        still["error"]["details"]["reasons"],
        serde_json::json!(["CHILDREN_NOT_DONE"])
    );
}

#[tokio::test]
async fn blocked_returns_to_where_it_was() {
    let store = MemoryStore::new();
    seed_story(&store, "Export", None).await;
    let blocked = json(&patch(&store, 1, r#"{"status":"Blocked"}"#, None).await);
    assert_eq!(blocked["blockedFrom"], "Draft");
    let refused = patch(&store, 1, r#"{"status":"Ready"}"#, None).await;
    assert_eq!(
        json(&refused)["error"]["details"]["allowed"],
        serde_json::json!(["Draft"])
    );
    let back = json(&patch(&store, 1, r#"{"status":"Draft"}"#, None).await);
    assert_eq!(back["status"], "Draft");
    assert!(back.get("blockedFrom").is_none());
}

#[tokio::test]
async fn content_changes_flag_the_tests_for_review() {
    let store = MemoryStore::new();
    seed_story(&store, "Export", None).await;
    let test = seed_test(&store, 1, "a file is downloaded").await;
    patch(&store, 1, r#"{"storyPoint":5}"#, None).await;
    assert!(
        !AcceptanceTestRepository::get(&store, 1, &test.id)
            .await
            .unwrap()
            .unwrap()
            .needs_review
    );
    patch(&store, 1, r#"{"soThat":"I can report weekly"}"#, None).await;
    assert!(
        AcceptanceTestRepository::get(&store, 1, &test.id)
            .await
            .unwrap()
            .unwrap()
            .needs_review
    );
}

#[tokio::test]
async fn unknown_story_and_bad_bodies() {
    let store = MemoryStore::new();
    assert_eq!(
        error_code(&patch(&store, 7, r#"{"title":"x"}"#, None).await),
        "STORY_NOT_FOUND"
    );
    seed_story(&store, "Export", None).await;
    assert_eq!(
        error_code(&patch(&store, 1, r#"{"id":3}"#, None).await),
        "UNKNOWN_FIELD"
    );
    assert_eq!(
        error_code(&patch(&store, 1, r#"{"status":"Finished"}"#, None).await),
        "INVALID_FIELD_TYPE"
    );
    assert_eq!(
        error_code(&patch(&store, 1, r#"{"title":""}"#, None).await),
        "VALIDATION_FAILED"
    );
}
