//! GET /stories: a bounded page of stories, filtered by parent (or `root`: the top level) and
//! status, with a cursor. A level of the tree (`parentId` given) says for each story how many
//! children it has and how many of them are Done (counters kept on the story by every write
//! that changes them), so the tree loads one level at a time, one read per level.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::Result;
use crate::http::{Operation, json_response};
use crate::model::{Story, StoryStatus};
use crate::pagination::StoryListQuery;
use crate::ports::{LinkStore, NoLinks, ProjectDirectory, StoryRepository};
use crate::rules::dependencies::LinkGraph;
use std::collections::{BTreeSet, HashMap};

pub struct GetStories<R, G, L = NoLinks> {
    stories: R,
    gate: Gate<G>,
    links: L,
}

impl<R: StoryRepository, G: ProjectDirectory> GetStories<R, G> {
    pub fn new(stories: R, gate: Gate<G>) -> Self {
        Self {
            stories,
            gate,
            links: NoLinks,
        }
    }

    /// The same, saying of each story what it is blocked by.
    pub fn reading_links<L: LinkStore>(self, links: L) -> GetStories<R, G, L> {
        GetStories {
            stories: self.stories,
            gate: self.gate,
            links,
        }
    }
}

/// A listed story with the stories it waits for: all of them, and those not Done yet (which
/// make it blocked).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedStory {
    #[serde(flatten)]
    story: Story,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    blocked_by: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    open_blockers: Vec<u64>,
}

/// Each story of the page with its blockers; blockers outside the page are read.
async fn with_blockers<R: StoryRepository>(
    stories: &R,
    page: Vec<Story>,
    graph: &LinkGraph,
) -> Result<Vec<ListedStory>> {
    let blockers = graph.blockers();
    let mut status: HashMap<u64, StoryStatus> =
        page.iter().map(|story| (story.id, story.status)).collect();
    let unread: BTreeSet<u64> = page
        .iter()
        .filter_map(|story| blockers.get(&story.id))
        .flatten()
        .filter(|id| !status.contains_key(id))
        .copied()
        .collect();
    if !unread.is_empty() {
        let ids: Vec<u64> = unread.into_iter().collect();
        for story in stories.get_many(&ids).await? {
            status.insert(story.id, story.status);
        }
    }
    Ok(page
        .into_iter()
        .map(|story| {
            // A blocker that no longer exists blocks nothing.
            let blocked_by: Vec<u64> = blockers
                .get(&story.id)
                .into_iter()
                .flatten()
                .filter(|id| status.contains_key(id))
                .copied()
                .collect();
            let open_blockers = blocked_by
                .iter()
                .filter(|id| status.get(id) != Some(&StoryStatus::Done))
                .copied()
                .collect();
            ListedStory {
                story,
                blocked_by,
                open_blockers,
            }
        })
        .collect())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoryPage {
    stories: Vec<ListedStory>,
    /// Pass as `cursor` to get the next page; `null` when there is none.
    next_cursor: Option<String>,
}

impl<R: StoryRepository, G: ProjectDirectory, L: LinkStore> Operation for GetStories<R, G, L> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::ViewProject)
            .await?;
        let parameters = request.query_string_parameters_ref();
        let mut query = StoryListQuery::parse(|name| parameters.and_then(|map| map.first(name)))?;
        query.numbering = access.numbering();
        if let Some(parent) = query.parent_id {
            access.story(parent)?;
        }
        let (page, graph) = tokio::join!(
            self.stories.list(&query),
            self.links.graph(&access.project.id)
        );
        let (page, graph) = (page?, graph?);
        let mut stories = page.items;
        // A level of the tree says for every story how many children it has, none included.
        if query.roots || query.parent_id.is_some() {
            for story in &mut stories {
                story.child_count = Some(story.child_count.unwrap_or(0));
                story.done_child_count = Some(story.done_child_count.unwrap_or(0));
            }
        }
        Ok(json_response(
            StatusCode::OK,
            &StoryPage {
                stories: with_blockers(&self.stories, stories, &graph).await?,
                next_cursor: page.next.map(|cursor| cursor.encode()),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::memory_projects::local_gate;
    use crate::handlers::test_support::{error_code, json, request, with_query};
    use crate::http::respond;
    use crate::model::NewStory;
    use chrono::Utc;
    use lambda_http::http::Method;
    use serde_json::Value;

    async fn seeded(
        count: u64,
    ) -> GetStories<MemoryStore, crate::adapters::memory_projects::MemoryProjects> {
        let repository = MemoryStore::new();
        for n in 1..=count {
            let new = NewStory {
                created_by: None,
                parent_id: (n > 1).then_some(1),
                title: format!("story {n}"),
                as_a: String::new(),
                i_want: String::new(),
                so_that: String::new(),
                description: String::new(),
                components: vec![],
                story_point: None,
                assignee_email: None,
            };
            repository
                .create(Default::default(), new, Utc::now())
                .await
                .unwrap();
        }
        GetStories::new(repository, local_gate())
    }

    async fn list(
        operation: &GetStories<MemoryStore, crate::adapters::memory_projects::MemoryProjects>,
        query: &[(&str, &str)],
    ) -> Response<Body> {
        respond(
            operation,
            with_query(request(Method::GET, "/stories", ""), query),
        )
        .await
    }

    fn ids(page: &Value) -> Vec<u64> {
        page["stories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|story| story["id"].as_u64().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn pages_follow_the_cursor_to_the_end() {
        let operation = seeded(5).await;
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "2")];
            if let Some(token) = cursor.as_deref() {
                query.push(("cursor", token));
            }
            let page = json(&list(&operation, &query).await);
            let page_ids = ids(&page);
            assert!(page_ids.len() <= 2);
            seen.extend(page_ids);
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, vec![1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn filters_by_parent_and_status() {
        let operation = seeded(4).await;
        let children = json(&list(&operation, &[("parentId", "1")]).await);
        assert_eq!(ids(&children), vec![2, 3, 4]);
        let ready = json(&list(&operation, &[("status", "Ready")]).await);
        assert_eq!(ids(&ready), Vec::<u64>::new());
        assert_eq!(ready["nextCursor"], Value::Null);
    }

    #[tokio::test]
    async fn bad_parameters_are_400() {
        let operation = seeded(1).await;
        for (query, code) in [
            (vec![("limit", "0")], "INVALID_QUERY_PARAMETER"),
            (vec![("limit", "501")], "INVALID_QUERY_PARAMETER"),
            (vec![("status", "Nope")], "INVALID_QUERY_PARAMETER"),
            (vec![("cursor", "not-a-cursor")], "INVALID_CURSOR"),
        ] {
            let response = list(&operation, &query).await;
            assert_eq!(response.status(), 400, "{query:?}");
            assert_eq!(error_code(&response), code, "{query:?}");
        }
    }

    #[tokio::test]
    async fn a_tree_level_comes_with_child_counts_and_root_means_the_top() {
        use crate::handlers::test_support::seed_story;
        use crate::ports::{StoryChanges, UpdateGuard};
        let store = MemoryStore::new();
        let epic = seed_story(&store, "Epic", None).await;
        let loner = seed_story(&store, "Loner", None).await;
        let done = seed_story(&store, "Done child", Some(epic.id)).await;
        seed_story(&store, "Open child", Some(epic.id)).await;
        store
            .update(
                done.id,
                &StoryChanges {
                    status: Some(crate::model::StoryStatus::Done),
                    ..Default::default()
                },
                &UpdateGuard::default(),
                Utc::now(),
            )
            .await
            .unwrap();
        let operation = GetStories::new(store, local_gate());
        let roots = json(&list(&operation, &[("parentId", "root")]).await);
        assert_eq!(ids(&roots), vec![epic.id, loner.id]);
        assert_eq!(roots["stories"][0]["childCount"], 2);
        assert_eq!(roots["stories"][0]["doneChildCount"], 1);
        assert_eq!(roots["stories"][1]["childCount"], 0);
        let children = json(&list(&operation, &[("parentId", &epic.id.to_string())]).await);
        assert_eq!(children["stories"][0]["childCount"], 0);
        // The flat listing (the board's) shows the counters only where a story has children.
        let flat = json(&list(&operation, &[]).await);
        assert_eq!(ids(&flat).len(), 4);
        assert_eq!(flat["stories"][0]["childCount"], 2);
        assert!(flat["stories"][1].get("childCount").is_none());
        // A root listing's cursor is not a flat listing's.
        let page = json(&list(&operation, &[("parentId", "root"), ("limit", "1")]).await);
        let cursor = page["nextCursor"].as_str().unwrap().to_owned();
        let mixed = list(&operation, &[("cursor", &cursor)]).await;
        assert_eq!(error_code(&mixed), "INVALID_CURSOR");
        let next = json(&list(&operation, &[("parentId", "root"), ("cursor", &cursor)]).await);
        assert_eq!(ids(&next), vec![loner.id]);
    }
}
