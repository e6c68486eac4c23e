//! Unit tests of generate-code against the in-memory adapters.
use super::*;
use crate::adapters::memory::{MemoryCodeHost, MemoryStore};
use crate::adapters::memory_projects::{MemoryProjects, local_gate};
use crate::handlers::test_support::{
    error_code, json, request, seed_ready_story, seed_story, with_path,
};
use crate::http::respond;
use lambda_http::http::Method;

type Operation = GenerateCode<
    MemoryStore,
    MemoryStore,
    MemoryStore,
    MemoryStore,
    MemoryCodeHost,
    MemoryProjects,
>;

async fn ready_story(store: &MemoryStore) -> u64 {
    seed_ready_story(
        store,
        "Export stories as CSV",
        "a CSV with 3 rows is downloaded",
    )
    .await
    .id
}

fn operation(store: &MemoryStore, host: &MemoryCodeHost) -> Operation {
    GenerateCode::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        host.clone(),
        local_gate(),
    )
}

async fn post(operation: &Operation, story: u64, body: &str, key: Option<&str>) -> Response<Body> {
    let mut request = with_path(request(Method::POST, "/x", body), "id", &story.to_string());
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("idempotency-key", key.parse().unwrap());
    }
    respond(operation, request).await
}

#[tokio::test]
async fn a_ready_story_gets_a_branch_brief_draft_pr_and_a_queued_task() {
    let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
    let story = ready_story(&store).await;
    let operation = operation(&store, &host);
    let response = post(
        &operation,
        story,
        r#"{"instructions":"Use the csv module"}"#,
        None,
    )
    .await;
    assert_eq!(response.status(), 202);
    let task = json(&response);
    assert_eq!(task["status"], "queued");
    assert_eq!(task["handOff"], "enqueued");
    assert_eq!(task["prNumber"], 1);
    let branch = task["branch"].as_str().unwrap();
    assert!(
        branch.starts_with("aipm/AIPM-1-export-stories-as-csv-"),
        "{branch}"
    );
    let state = host.state();
    assert!(state.branches.contains(branch));
    let brief = &state.files[&(branch.to_owned(), "TASK.md".to_owned())];
    assert!(brief.contains("Use the csv module") && brief.contains("a CSV with 3 rows"));
    assert_eq!(
        store.sent_task_ids(),
        vec![task["taskId"].as_str().unwrap().to_owned()]
    );
    let story = futures::executor::block_on(StoryRepository::get(&store, story))
        .unwrap()
        .unwrap();
    assert_eq!(story.status, StoryStatus::InProgress);
    assert_eq!(story.active_task_id.as_deref(), task["taskId"].as_str());
    // The start is in the story's history, with the move to In Progress it made.
    let started = store
        .history()
        .into_iter()
        .rfind(|entry| entry.story_id == Some(story.id))
        .unwrap();
    assert_eq!(
        started.action,
        crate::history::HistoryAction::CodeTaskStarted
    );
    assert_eq!(started.subject.as_deref(), task["taskId"].as_str());
    assert_eq!(started.version, Some(story.version));
    let fields: Vec<&str> = started.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["branch", "status"]);
    assert_eq!(started.changes[1].after, "In Progress");
}

#[tokio::test]
async fn a_hand_off_in_flight_is_reported_not_repeated() {
    let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
    let story = ready_story(&store).await;
    let operation = operation(&store, &host);
    host.state().unavailable = true;
    assert_eq!(post(&operation, story, "", Some("k")).await.status(), 503);
    let task_id = CodeTaskRepository::recent_for_story(&store, story)
        .await
        .unwrap()[0]
        .task_id
        .clone();
    // Pretend another request has just taken the hand-off over.
    store.set_hand_off_until(&task_id, Utc::now() + Duration::seconds(30));
    host.state().unavailable = false;
    let in_flight = post(&operation, story, "", Some("k")).await;
    assert_eq!(in_flight.status(), 200);
    assert_eq!(json(&in_flight)["handOff"], "recorded");
    assert!(store.sent_task_ids().is_empty());
}

#[tokio::test]
async fn one_active_task_per_story_and_only_buildable_stories() {
    let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
    let story = ready_story(&store).await;
    let operation = operation(&store, &host);
    let first = json(&post(&operation, story, "", None).await);
    let second = post(&operation, story, "", None).await;
    assert_eq!(second.status(), 409);
    assert_eq!(error_code(&second), "ACTIVE_TASK_EXISTS");
    assert_eq!(json(&second)["error"]["details"]["taskId"], first["taskId"]);
    let draft = seed_story(&store, "Draft story", None).await;
    let refused = post(&operation, draft.id, "", None).await;
    assert_eq!(error_code(&refused), "STORY_NOT_READY");
    assert_eq!(
        error_code(&post(&operation, 99, "", None).await),
        "STORY_NOT_FOUND"
    );
}

#[tokio::test]
async fn an_open_pull_request_points_at_revisions_unless_a_new_one_is_asked_for() {
    let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
    let story = ready_story(&store).await;
    let operation = operation(&store, &host);
    let first = json(&post(&operation, story, "", None).await);
    store.finish_task(first["taskId"].as_str().unwrap(), TaskStatus::Succeeded);
    let refused = post(&operation, story, "", None).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(error_code(&refused), "PULL_REQUEST_OPEN");
    assert_eq!(json(&refused)["error"]["details"]["prNumber"], 1);
    assert!(
        json(&refused)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request changes")
    );
    let second = post(&operation, story, r#"{"newPullRequest":true}"#, None).await;
    assert_eq!(second.status(), 202);
    assert_eq!(json(&second)["prNumber"], 2);
    store.finish_task(
        json(&second)["taskId"].as_str().unwrap(),
        TaskStatus::Failed,
    );
    host.state()
        .closed
        .insert(2, crate::ports::PullRequestStatus::Closed);
    assert_eq!(post(&operation, story, "", None).await.status(), 202);
}

#[tokio::test]
async fn the_same_key_is_the_same_task_and_a_different_body_is_422() {
    let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
    let story = ready_story(&store).await;
    let operation = operation(&store, &host);
    let first = post(&operation, story, r#"{"instructions":"a"}"#, Some("key-1")).await;
    assert_eq!(first.status(), 202);
    let replay = post(&operation, story, r#"{"instructions":"a"}"#, Some("key-1")).await;
    assert_eq!(replay.status(), 200);
    assert_eq!(json(&replay)["taskId"], json(&first)["taskId"]);
    let different = post(&operation, story, r#"{"instructions":"b"}"#, Some("key-1")).await;
    assert_eq!(different.status(), 422);
    assert_eq!(error_code(&different), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(host.state().pulls.len(), 1);
    assert_eq!(store.sent_task_ids().len(), 1);
    assert_eq!(
        error_code(&post(&operation, story, "", Some("bad key")).await),
        "INVALID_IDEMPOTENCY_KEY"
    );
}

#[tokio::test]
async fn a_code_host_outage_is_503_and_a_retry_resumes_without_duplicates() {
    let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
    let story = ready_story(&store).await;
    let operation = operation(&store, &host);
    host.state().unavailable = true;
    let failed = post(&operation, story, "", Some("k")).await;
    assert_eq!(failed.status(), 503);
    assert_eq!(error_code(&failed), "CODE_HOST_UNAVAILABLE");
    assert!(store.sent_task_ids().is_empty());
    host.state().unavailable = false;
    // The failed request released the hand-off, so the retry resumes it at once.
    let task_id = CodeTaskRepository::recent_for_story(&store, story)
        .await
        .unwrap()[0]
        .task_id
        .clone();
    let resumed = post(&operation, story, "", Some("k")).await;
    assert_eq!(resumed.status(), 202);
    assert_eq!(json(&resumed)["handOff"], "enqueued");
    assert_eq!(host.state().pulls.len(), 1);
    assert_eq!(store.sent_task_ids(), vec![task_id]);
}

/// POST …/generate-code under `/projects/{key}/…`.
async fn post_in_project(operation: &Operation, key: &str, story: u64) -> Response<Body> {
    use lambda_http::RequestExt;
    let parameters: std::collections::HashMap<String, String> = [
        ("key".to_owned(), key.to_owned()),
        ("id".to_owned(), story.to_string()),
    ]
    .into();
    let request = request(Method::POST, "/x", "").with_path_parameters(parameters);
    respond(operation, request).await
}

#[tokio::test]
async fn the_task_works_in_the_repository_its_project_links() {
    use crate::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use crate::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
    let projects = MemoryProjects::with_default_project();
    projects.add_project("SHOP", "local-admin");
    let shop = RepositoryLink::new("acme", "shop", "trunk");
    projects.link_repository(DEFAULT_PROJECT_ID, Some(shop));
    let operation = GenerateCode::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        host.clone(),
        local_gate_over(projects.clone()),
    );
    let story = ready_story(&store).await;
    let response = post(&operation, story, "", None).await;
    assert_eq!(response.status(), 202);
    let task_id = json(&response)["taskId"].as_str().unwrap().to_owned();
    assert_eq!(host.state().pull_repositories, vec!["acme/shop".to_owned()]);
    let recorded = CodeTaskRepository::get(&store, &task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        recorded
            .repository
            .map(|link| (link.owner, link.name, link.base_branch)),
        Some(("acme".into(), "shop".into(), "trunk".into())),
        "the worker and every follow-up find the repository on the task"
    );

    // A project that links no repository yet has nowhere to put the code.
    let unlinked = post_in_project(&operation, "SHOP", (1u64 << 32) + 1).await;
    assert_eq!(unlinked.status(), 409);
    assert_eq!(error_code(&unlinked), "REPOSITORY_NOT_LINKED");
    assert_eq!(
        host.state().pull_repositories.len(),
        1,
        "nothing was opened"
    );
}

#[tokio::test]
async fn a_task_targets_the_linked_repository_it_names_and_no_other() {
    use crate::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use crate::project::{DEFAULT_PROJECT_ID, RepositoryLink};
    let (store, host) = (MemoryStore::new(), MemoryCodeHost::new());
    let projects = MemoryProjects::with_default_project();
    projects.link_repository(
        DEFAULT_PROJECT_ID,
        Some(RepositoryLink::new("acme", "shop", "main")),
    );
    projects.link_other_repositories(
        DEFAULT_PROJECT_ID,
        vec![
            RepositoryLink::new("acme", "api", "trunk"),
            RepositoryLink {
                disconnected: true,
                ..RepositoryLink::new("acme", "old", "main")
            },
        ],
    );
    let operation = GenerateCode::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        host.clone(),
        local_gate_over(projects.clone()),
    );
    let story = ready_story(&store).await;

    let elsewhere = post(&operation, story, r#"{"repository":"acme/web"}"#, None).await;
    assert_eq!(elsewhere.status(), 400);
    assert_eq!(
        json(&elsewhere)["error"]["details"]["fields"][0]["code"],
        "NOT_LINKED"
    );
    let lost = post(&operation, story, r#"{"repository":"acme/old"}"#, None).await;
    assert_eq!(lost.status(), 409);
    assert_eq!(error_code(&lost), "REPOSITORY_DISCONNECTED");
    assert!(
        host.state().pull_repositories.is_empty(),
        "nothing was opened"
    );

    let api = post(
        &operation,
        story,
        r#"{"repository":"ACME/api"}"#,
        Some("k1"),
    )
    .await;
    assert_eq!(api.status(), 202);
    assert_eq!(host.state().pull_repositories, vec!["acme/api".to_owned()]);
    let task_id = json(&api)["taskId"].as_str().unwrap().to_owned();
    let recorded = CodeTaskRepository::get(&store, &task_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        recorded.repository.map(|link| link.base_branch),
        Some("trunk".to_owned())
    );
    // The same key naming the same repository in its own spelling is the same request.
    let again = post(
        &operation,
        story,
        r#"{"repository":"acme/api"}"#,
        Some("k1"),
    )
    .await;
    assert_eq!(json(&again)["taskId"], serde_json::json!(task_id));
}
