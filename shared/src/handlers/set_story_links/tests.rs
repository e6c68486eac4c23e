//! Unit tests of links through the operations that keep and honour them: set-story-links,
//! update-story's Done, generate-code's refusal and override, delete-story, the listing.
use super::*;
use crate::adapters::memory::{MemoryCodeHost, MemoryStore};
use crate::adapters::memory_projects::{MemoryProjects, local_gate};
use crate::handlers::delete_story::DeleteStory;
use crate::handlers::generate_code::GenerateCode;
use crate::handlers::get_stories::GetStories;
use crate::handlers::test_support::{
    error_code, json, request, seed_ready_story, seed_story, with_path,
};
use crate::handlers::update_story::UpdateStory;
use crate::http::respond;
use crate::model::StoryStatus;
use crate::ports::{StoryChanges, TestChanges};
use lambda_http::http::Method;
use serde_json::{Value, json};

fn operation(
    store: &MemoryStore,
) -> SetStoryLinks<MemoryStore, MemoryStore, MemoryStore, MemoryProjects> {
    SetStoryLinks::new(store.clone(), store.clone(), store.clone(), local_gate())
}

async fn put(store: &MemoryStore, id: u64, body: Value, if_match: Option<u64>) -> Response<Body> {
    let mut request = with_path(
        request(Method::PUT, "/x", &body.to_string()),
        "id",
        &id.to_string(),
    );
    if let Some(version) = if_match {
        request
            .headers_mut()
            .insert("if-match", format!("\"{version}\"").parse().unwrap());
    }
    respond(&operation(store), request).await
}

async fn set_status(store: &MemoryStore, id: u64, status: StoryStatus) {
    let changes = StoryChanges {
        status: Some(status),
        ..StoryChanges::default()
    };
    StoryRepository::update(store, id, &changes, &Default::default(), Utc::now())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_blocker_shows_on_both_stories_and_bumps_the_blocked_ones_version() {
    let store = MemoryStore::new();
    let (api, ui) = (
        seed_story(&store, "Export API", None).await,
        seed_story(&store, "Export button", None).await,
    );
    let linked = put(&store, ui.id, json!({"blockedBy": [api.id]}), Some(1)).await;
    assert_eq!(linked.status(), 200, "{}", json(&linked));
    assert_eq!(linked.headers()["etag"], "\"2\"");
    let view = json(&linked);
    assert_eq!(view["links"]["blockedBy"][0]["key"], "AIPM-1");
    assert_eq!(view["openBlockers"][0]["id"], api.id);
    // INVEST's Independent now reads the link.
    let codes: Vec<&str> = view["invest"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|warning| warning["code"].as_str())
        .collect();
    assert!(codes.contains(&"BLOCKED_BY_OPEN_STORY"), "{codes:?}");
    let get = crate::handlers::get_story::GetStory::new(
        store.clone(),
        store.clone(),
        store.clone(),
        local_gate(),
    )
    .reading_links(store.clone());
    let read = |id: u64| with_path(request(Method::GET, "/x", ""), "id", &id.to_string());
    let blocker = json(&respond(&get, read(api.id)).await);
    assert_eq!(blocker["links"]["blocking"][0]["id"], ui.id);
    assert_eq!(blocker["openBlockers"], json!([]));
    // The old version is stale now.
    let stale = put(&store, ui.id, json!({"blockedBy": []}), Some(1)).await;
    assert_eq!(stale.status(), 412);
    assert_eq!(error_code(&stale), "VERSION_MISMATCH");
}

#[tokio::test]
async fn self_cycle_lineage_and_unknown_stories_are_refused_with_stable_codes() {
    let store = MemoryStore::new();
    let one = seed_story(&store, "One", None).await.id;
    let two = seed_story(&store, "Two", None).await.id;
    let three = seed_story(&store, "Three", None).await.id;
    let child = seed_story(&store, "Child of three", Some(three)).await.id;

    let to_self = put(&store, one, json!({"blockedBy": [one]}), None).await;
    assert_eq!(to_self.status(), 409);
    assert_eq!(error_code(&to_self), "LINK_TO_SELF");

    assert_eq!(
        put(&store, two, json!({"blockedBy": [one]}), None)
            .await
            .status(),
        200
    );
    assert_eq!(
        put(&store, three, json!({"blockedBy": [two]}), None)
            .await
            .status(),
        200
    );
    let cycle = put(&store, one, json!({"blockedBy": [three]}), None).await;
    assert_eq!(cycle.status(), 409);
    assert_eq!(error_code(&cycle), "LINK_CYCLE");
    let details = &json(&cycle)["error"]["details"];
    assert_eq!(
        details["cycle"],
        json!(["AIPM-1", "AIPM-3", "AIPM-2", "AIPM-1"])
    );
    assert_eq!(details["cycleIds"], json!([one, three, two, one]));

    let lineage = put(&store, child, json!({"blockedBy": [three]}), None).await;
    assert_eq!(lineage.status(), 409);
    assert_eq!(error_code(&lineage), "LINK_TO_ANCESTOR_OR_DESCENDANT");
    assert_eq!(json(&lineage)["error"]["details"]["relation"], "ancestor");
    let downward = put(&store, three, json!({"blocking": [child]}), None).await;
    assert_eq!(
        json(&downward)["error"]["details"]["relation"],
        "descendant"
    );

    let missing = put(&store, one, json!({"relatesTo": [99]}), None).await;
    assert_eq!(missing.status(), 409);
    assert_eq!(error_code(&missing), "LINK_TARGET_NOT_FOUND");
    // A story of another project is not there from here, whatever its id.
    let elsewhere = crate::project::StoryNumbering { ordinal: 7 }.story_id(1);
    let other = put(&store, one, json!({"relatesTo": [elsewhere]}), None).await;
    assert_eq!(error_code(&other), "LINK_TARGET_NOT_FOUND");
    let unknown_field = put(&store, one, json!({"blocks": [two]}), None).await;
    assert_eq!(unknown_field.status(), 400);
    // Nothing refused was written: the graph still holds the two links made.
    let graph = LinkStore::graph(&store, crate::project::DEFAULT_PROJECT_ID)
        .await
        .unwrap();
    assert_eq!(graph.links.len(), 2, "{graph:?}");
}

#[tokio::test]
async fn done_is_refused_naming_the_open_blocker_until_it_is_done() {
    let store = MemoryStore::new();
    let blocker = seed_story(&store, "Payments", None).await.id;
    let story = seed_ready_story(&store, "Checkout", "the order is paid").await;
    put(&store, story.id, json!({"blockedBy": [blocker]}), None).await;
    set_status(&store, story.id, StoryStatus::InProgress).await;
    for test in AcceptanceTestRepository::list(&store, story.id)
        .await
        .unwrap()
    {
        let pass = TestChanges {
            status: Some(crate::model::TestStatus::Pass),
            ..TestChanges::default()
        };
        AcceptanceTestRepository::update(&store, story.id, &test.id, &pass, None, Utc::now())
            .await
            .unwrap();
    }
    let update =
        UpdateStory::new(store.clone(), store.clone(), local_gate()).with_links(store.clone());
    let done = || {
        with_path(
            request(Method::PATCH, "/x", r#"{"status":"Done"}"#),
            "id",
            &story.id.to_string(),
        )
    };
    let refused = respond(&update, done()).await;
    assert_eq!(refused.status(), 409);
    let details = &json(&refused)["error"]["details"];
    assert_eq!(details["reasons"], json!(["OPEN_BLOCKERS"]));
    assert_eq!(details["blockingStories"][0]["key"], "AIPM-1");
    assert_eq!(details["blockingStories"][0]["status"], "Draft");

    set_status(&store, blocker, StoryStatus::Done).await;
    let allowed = respond(&update, done()).await;
    assert_eq!(allowed.status(), 200, "{}", json(&allowed));
    assert_eq!(json(&allowed)["openBlockers"], json!([]));
}

#[tokio::test]
async fn generate_code_refuses_a_blocked_story_unless_overridden_with_a_reason() {
    let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
    let blocker = seed_story(&store, "Payments", None).await.id;
    let story = seed_ready_story(&store, "Checkout", "the order is paid")
        .await
        .id;
    put(&store, story, json!({"blockedBy": [blocker]}), None).await;
    let generate = GenerateCode::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        host.clone(),
        local_gate(),
    )
    .with_links(store.clone());
    let post = |body: &str| with_path(request(Method::POST, "/x", body), "id", &story.to_string());
    let refused = respond(&generate, post("")).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(error_code(&refused), "STORY_BLOCKED");
    assert_eq!(
        json(&refused)["error"]["details"]["blockers"][0]["key"],
        "AIPM-1"
    );
    assert!(
        host.state().branches.is_empty(),
        "nothing was asked of GitHub"
    );

    let empty_reason = respond(&generate, post(r#"{"overrideBlockers":{"reason":"  "}}"#)).await;
    assert_eq!(empty_reason.status(), 400);

    let allowed = respond(
        &generate,
        post(r#"{"overrideBlockers":{"reason":"Payments is stubbed for the demo"}}"#),
    )
    .await;
    assert_eq!(allowed.status(), 202, "{}", json(&allowed));
    let task = json(&allowed);
    assert_eq!(
        task["blockerOverride"],
        json!({"reason": "Payments is stubbed for the demo", "blockers": ["AIPM-1"]})
    );
}

#[tokio::test]
async fn deleting_a_story_removes_its_links_and_the_listing_says_who_is_blocked() {
    let store = MemoryStore::new();
    let blocker = seed_story(&store, "Payments", None).await.id;
    let waiting = seed_story(&store, "Checkout", None).await.id;
    let related = seed_story(&store, "Refunds", None).await.id;
    put(
        &store,
        waiting,
        json!({"blockedBy": [blocker], "relatesTo": [related]}),
        None,
    )
    .await;
    let list = GetStories::new(store.clone(), local_gate()).reading_links(store.clone());
    let listed = json(&respond(&list, request(Method::GET, "/stories", "")).await);
    let row = |id: u64| {
        listed["stories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|story| story["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(waiting)["openBlockers"], json!([blocker]));
    assert_eq!(row(blocker).get("openBlockers"), None);

    let delete =
        DeleteStory::new(store.clone(), store.clone(), local_gate()).with_links(store.clone());
    let deleted = respond(
        &delete,
        with_path(
            request(Method::DELETE, "/x", ""),
            "id",
            &blocker.to_string(),
        ),
    )
    .await;
    assert_eq!(deleted.status(), 204);
    let graph = LinkStore::graph(&store, crate::project::DEFAULT_PROJECT_ID)
        .await
        .unwrap();
    assert!(
        graph
            .links
            .iter()
            .all(|link| link.story != blocker && link.other != blocker),
        "{graph:?}"
    );
    assert_eq!(graph.of(waiting).relates_to, vec![related]);
}
