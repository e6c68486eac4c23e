//! The trash's handlers on the in-memory adapters: delete, list, restore, purge.

use super::*;
use crate::adapters::memory::MemoryStore;
use crate::adapters::memory_projects::local_gate;
use crate::handlers::delete_story::DeleteStory;
use crate::handlers::test_support::{
    as_person, error_code, json, seed_story, seed_test, with_query,
};
use crate::history::HistoryAction;
use crate::http::respond;
use crate::ports::{AcceptanceTestRepository, LinkStore, LinkWrite, StoryRepository};
use crate::rules::dependencies::{Link, LinkKind};
use lambda_http::http::Method;

fn deleter(store: &MemoryStore) -> impl Operation {
    DeleteStory::new(store.clone(), store.clone(), local_gate())
        .with_links(store.clone())
        .with_trash(store.clone())
}

async fn delete_as(store: &MemoryStore, person: &str, id: u64, cascade: bool) -> u16 {
    let id = id.to_string();
    let request = as_person(person, Method::DELETE, "/stories/x", "", &[("id", &id)]);
    let request = if cascade {
        with_query(request, &[("cascade", "true")])
    } else {
        request
    };
    respond(&deleter(store), request).await.status().as_u16()
}

async fn restore_as(store: &MemoryStore, person: &str, id: u64) -> Response<Body> {
    let id = id.to_string();
    respond(
        &RestoreStory::new(store.clone(), local_gate()),
        as_person(person, Method::POST, "/trash/x/restore", "", &[("id", &id)]),
    )
    .await
}

/// Everything a subtree is, as the stores give it back.
async fn snapshot(store: &MemoryStore, ids: &[u64]) -> Vec<String> {
    let mut seen = Vec::new();
    for id in ids {
        seen.push(format!(
            "{:?}",
            StoryRepository::get(store, *id).await.unwrap()
        ));
        seen.push(format!(
            "{:?}",
            AcceptanceTestRepository::list(store, *id).await.unwrap()
        ));
    }
    seen.push(format!("{:?}", store.graph("default").await.unwrap().links));
    seen
}

#[tokio::test]
async fn a_deleted_subtree_comes_back_exactly_with_its_tests_and_links() {
    let store = MemoryStore::new();
    let epic = seed_story(&store, "Epic", None).await;
    let child = seed_story(&store, "Child", Some(epic.id)).await;
    let grandchild = seed_story(&store, "Grandchild", Some(child.id)).await;
    let outside = seed_story(&store, "Outside", None).await;
    for id in [epic.id, child.id, grandchild.id] {
        seed_test(&store, id, "the count is 1").await;
    }
    let written = store
        .write(
            "default",
            &LinkWrite {
                story_id: child.id,
                story_version: 1,
                updated_by: "local-admin",
                entry: None,
                now: Utc::now(),
                linked: &[outside.id],
                graph_version: 0,
                links: &[Link {
                    story: child.id,
                    other: outside.id,
                    kind: LinkKind::BlockedBy,
                }],
            },
        )
        .await
        .unwrap();
    assert!(written);
    let subtree = [epic.id, child.id, grandchild.id];
    let before = snapshot(&store, &subtree).await;

    assert_eq!(
        delete_as(&store, "local-maintainer", epic.id, true).await,
        204
    );
    for id in subtree {
        assert!(StoryRepository::get(&store, id).await.unwrap().is_none());
    }
    assert!(store.graph("default").await.unwrap().links.is_empty());
    let listed = json(
        &respond(
            &ListTrash::new(store.clone(), local_gate()),
            as_person("local-viewer", Method::GET, "/trash", "", &[]),
        )
        .await,
    );
    assert_eq!(listed["trash"][0]["storyId"], epic.id);
    assert_eq!(listed["trash"][0]["storyIds"].as_array().unwrap().len(), 3);
    assert_eq!(listed["trash"][0]["testCount"], 3);
    assert_eq!(listed["trash"][0]["deletedBy"]["sub"], "local-maintainer");

    // A contributor may restore a single story but not a whole subtree; a viewer neither.
    assert_eq!(
        restore_as(&store, "local-viewer", epic.id).await.status(),
        403
    );
    assert_eq!(
        restore_as(&store, "local-contributor", epic.id)
            .await
            .status(),
        403
    );
    let answer = restore_as(&store, "local-maintainer", epic.id).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(json(&answer)["asRoot"], false);
    assert_eq!(
        snapshot(&store, &subtree).await,
        before,
        "restored item by item"
    );
    assert_eq!(
        error_code(&restore_as(&store, "local-maintainer", epic.id).await),
        "NOT_IN_TRASH"
    );

    let history: Vec<HistoryAction> = store
        .history()
        .iter()
        .filter(|entry| entry.story_id == Some(epic.id))
        .map(|entry| entry.action)
        .collect();
    assert_eq!(
        history,
        [
            HistoryAction::StoryCreated,
            HistoryAction::TestAdded,
            HistoryAction::StoryDeleted,
            HistoryAction::StoryRestored
        ]
    );
}

#[tokio::test]
async fn a_story_whose_parent_is_gone_comes_back_at_the_top_and_a_purge_is_final() {
    let store = MemoryStore::new();
    let epic = seed_story(&store, "Epic", None).await;
    let child = seed_story(&store, "Child", Some(epic.id)).await;
    assert_eq!(
        delete_as(&store, "local-contributor", child.id, false).await,
        204
    );
    assert_eq!(
        delete_as(&store, "local-contributor", epic.id, false).await,
        204
    );
    let answer = restore_as(&store, "local-contributor", child.id).await;
    let body = json(&answer);
    assert_eq!(body["asRoot"], true, "{body}");
    assert!(body["note"].as_str().unwrap().contains("top level"));
    assert_eq!(
        StoryRepository::get(&store, child.id)
            .await
            .unwrap()
            .unwrap()
            .parent_id,
        None
    );
    let restored = store
        .history()
        .into_iter()
        .rfind(|entry| entry.action == HistoryAction::StoryRestored)
        .unwrap();
    assert!(restored.reason.unwrap().contains("top level"));

    let purge = |person: &'static str| {
        let store = store.clone();
        let id = epic.id.to_string();
        async move {
            respond(
                &PurgeTrash::new(store.clone(), local_gate())
                    .with_documents(crate::adapters::memory_documents::MemoryDocuments::default()),
                as_person(person, Method::DELETE, "/trash/x", "", &[("id", &id)]),
            )
            .await
        }
    };
    assert_eq!(purge("local-maintainer").await.status(), 403);
    assert_eq!(purge("local-admin").await.status(), 204);
    assert_eq!(error_code(&purge("local-admin").await), "NOT_IN_TRASH");
    assert_eq!(
        error_code(&restore_as(&store, "local-admin", epic.id).await),
        "NOT_IN_TRASH"
    );
}

#[tokio::test]
async fn another_projects_ids_are_not_found_here() {
    let store = MemoryStore::new();
    let elsewhere = ((1u64 << 32) + 1).to_string();
    let restore = restore_as(&store, "local-admin", (1u64 << 32) + 1).await;
    assert_eq!(restore.status(), 404, "{:?}", json(&restore));
    let history = respond(
        &crate::handlers::history::GetStoryHistory::new(store.clone(), local_gate()),
        as_person(
            "local-admin",
            Method::GET,
            "/stories/x/history",
            "",
            &[("id", &elsewhere)],
        ),
    )
    .await;
    assert_eq!(history.status(), 404, "{:?}", json(&history));
}
