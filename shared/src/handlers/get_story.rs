//! GET /stories/{id}: the story with its INVEST analysis, acceptance tests and children.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::links::read_links;
use crate::handlers::views::StoryView;
use crate::http::Operation;
use crate::ports::{
    AcceptanceTestRepository, CodeTaskRepository, LinkStore, NoLinks, ProjectDirectory,
    StoryRepository,
};

pub struct GetStory<S, T, K, G, L = NoLinks> {
    stories: S,
    tests: T,
    tasks: K,
    gate: Gate<G>,
    links: L,
}

impl<S, T, K, G> GetStory<S, T, K, G> {
    pub fn new(stories: S, tests: T, tasks: K, gate: Gate<G>) -> Self {
        Self {
            stories,
            tests,
            tasks,
            gate,
            links: NoLinks,
        }
    }

    /// The same, showing the story's links and what blocks it.
    pub fn reading_links<L: LinkStore>(self, links: L) -> GetStory<S, T, K, G, L> {
        GetStory {
            stories: self.stories,
            tests: self.tests,
            tasks: self.tasks,
            gate: self.gate,
            links,
        }
    }
}

impl<S, T, K, G, L> Operation for GetStory<S, T, K, G, L>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    K: CodeTaskRepository,
    G: ProjectDirectory,
    L: LinkStore,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::ViewProject)
            .await?;
        let id = access.path_story(&request)?;
        // Four independent reads in one round trip.
        let (story, tests, children, tasks, links) = tokio::join!(
            self.stories.get(id),
            self.tests.list(id),
            self.stories.children(id),
            self.tasks.recent_for_story(id),
            read_links(&self.stories, &self.links, &access.project, id)
        );
        let story = story?.ok_or(Error::StoryNotFound { id })?;
        let (tests, children, tasks, (_, links)) = (tests?, children?, tasks?, links?);
        Ok(StoryView::new(&story, &tests)
            .with_links(links)
            .with_tests(&tests)
            .with_children(&children)
            .with_code_tasks(&tasks)
            .respond(StatusCode::OK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::memory_projects::{MemoryProjects, local_gate};
    use crate::handlers::test_support::{
        error_code, json, request, seed_story, seed_test, with_path,
    };
    use crate::http::respond;
    use lambda_http::http::Method;

    async fn get(
        operation: &GetStory<MemoryStore, MemoryStore, MemoryStore, MemoryProjects>,
        id: &str,
    ) -> Response<Body> {
        let request = with_path(request(Method::GET, "/stories/x", ""), "id", id);
        respond(operation, request).await
    }

    #[tokio::test]
    async fn returns_the_story_with_tests_children_and_invest() {
        let store = MemoryStore::new();
        seed_story(&store, "Export", None).await;
        seed_story(&store, "Export child", Some(1)).await;
        seed_test(&store, 1, "it works").await;
        let operation = GetStory::new(store.clone(), store.clone(), store, local_gate());
        let found = get(&operation, "1").await;
        assert_eq!(found.status(), 200);
        assert_eq!(found.headers()["etag"], "\"1\"");
        let view = json(&found);
        assert_eq!(view["title"], "Export");
        assert_eq!(view["children"][0]["id"], 2);
        assert_eq!(view["acceptanceTests"][0]["gwtHealth"]["healthy"], false);
        assert!(view["invest"]["score"].as_u64().is_some());
        assert_eq!(view["codeTasks"], serde_json::json!([]));
        let missing = get(&operation, "3").await;
        assert_eq!(missing.status(), 404);
        assert_eq!(error_code(&missing), "STORY_NOT_FOUND");
        assert_eq!(json(&missing)["error"]["details"]["id"], 3);
    }

    #[tokio::test]
    async fn a_non_numeric_id_is_400_even_percent_encoded() {
        let store = MemoryStore::new();
        let operation = GetStory::new(store.clone(), store.clone(), store, local_gate());
        for raw in ["abc", "0", "%2D1", "1%20"] {
            let response = get(&operation, raw).await;
            assert_eq!(response.status(), 400, "{raw}");
            assert_eq!(error_code(&response), "INVALID_STORY_ID", "{raw}");
        }
    }
}
