//! DELETE /stories/{id}[?cascade=true]: a story and its acceptance tests, or a whole subtree,
//! moved to the trash.
//!
//! Every story is marked as being deleted before its children are read, so no child can be
//! created under it afterwards; the whole marked subtree is then copied into the trash, and
//! only then are stories removed, leaves first. An interrupted delete therefore leaves a
//! smaller, still consistent tree and a trash entry that already holds everything, and running
//! it again finishes the job.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::history::Author;
use crate::http::{Operation, path_parameter, query_parameter};
use crate::ports::{
    AcceptanceTestRepository, DocumentStore, LinkStore, NoDocuments, NoLinks, NoTrash,
    ProjectDirectory, StoryRepository, TrashBin,
};
use crate::rules::documents::story_prefix;
use crate::validation::parse_story_id;

/// Steps a single delete may take (marks, re-reads, deletes) before it answers 503 and lets a
/// retry continue; bounds the work of one request on a huge subtree.
const MAX_STEPS: usize = 20_000;

pub struct DeleteStory<S, T, G, L = NoLinks, D = NoDocuments, B = NoTrash> {
    stories: S,
    tests: T,
    gate: Gate<G>,
    /// The project's links: a deleted story's go with it.
    links: L,
    /// The documents bucket: without a trash, a deleted story's files go with it.
    documents: D,
    /// Where deleted subtrees are kept for restoring (their files stay in the bucket).
    trash: B,
}

impl<S, T, G> DeleteStory<S, T, G> {
    pub fn new(stories: S, tests: T, gate: Gate<G>) -> Self {
        Self {
            stories,
            tests,
            gate,
            links: NoLinks,
            documents: NoDocuments,
            trash: NoTrash,
        }
    }
}

impl<S, T, G, L, D, B> DeleteStory<S, T, G, L, D, B> {
    /// The same, removing the deleted stories' links.
    pub fn with_links<L2: LinkStore>(self, links: L2) -> DeleteStory<S, T, G, L2, D, B> {
        DeleteStory {
            stories: self.stories,
            tests: self.tests,
            gate: self.gate,
            links,
            documents: self.documents,
            trash: self.trash,
        }
    }

    /// The same, deleting the deleted stories' files (when nothing keeps them).
    pub fn with_documents<D2: DocumentStore>(
        self,
        documents: D2,
    ) -> DeleteStory<S, T, G, L, D2, B> {
        DeleteStory {
            stories: self.stories,
            tests: self.tests,
            gate: self.gate,
            links: self.links,
            documents,
            trash: self.trash,
        }
    }

    /// The same, keeping what it deletes in the trash.
    pub fn with_trash<B2: TrashBin>(self, trash: B2) -> DeleteStory<S, T, G, L, D, B2> {
        DeleteStory {
            stories: self.stories,
            tests: self.tests,
            gate: self.gate,
            links: self.links,
            documents: self.documents,
            trash,
        }
    }
}

impl<S, T, G, L, D, B> DeleteStory<S, T, G, L, D, B>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    G: ProjectDirectory,
    L: LinkStore,
    D: DocumentStore,
    B: TrashBin,
{
    /// Removes one story whose children are already gone: without a trash its files first (a
    /// bucket that fails leaves the story, marked, for the repeated request), then tests, then
    /// the story. With one, the files stay for a restore; a purge takes them.
    async fn remove(&self, project_id: &str, id: u64) -> Result<()> {
        if !self.trash.keeps_files() {
            self.documents
                .delete_under(&story_prefix(project_id, id))
                .await?;
        }
        self.tests.delete_all(id).await?;
        self.stories.delete(id).await
    }

    /// Copies the marked stories (the top first), their tests and their links into the trash.
    async fn keep(&self, project_id: &str, ids: &[u64], author: &Author) -> Result<()> {
        let Some(top) = ids.first() else {
            return Ok(());
        };
        let graph = self.links.graph(project_id).await?;
        let links: Vec<_> = graph
            .links
            .iter()
            .filter(|link| ids.contains(&link.story) || ids.contains(&link.other))
            .copied()
            .collect();
        self.trash
            .keep(project_id, *top, ids, &links, author, chrono::Utc::now())
            .await
    }

    async fn delete_leaf(&self, project_id: &str, id: u64, author: &Author) -> Result<()> {
        let children = self.stories.children(id).await?;
        if !children.is_empty() {
            return Err(Error::HasChildren { children });
        }
        if !self.stories.mark_deleting(id).await? {
            return Err(Error::StoryNotFound { id });
        }
        // A child created just before the mark is visible now; after it, none can appear.
        let children = self.stories.children(id).await?;
        if !children.is_empty() {
            self.stories.unmark_deleting(id).await?;
            return Err(Error::HasChildren { children });
        }
        self.keep(project_id, &[id], author).await?;
        self.remove(project_id, id).await
    }

    async fn delete_subtree(
        &self,
        project_id: &str,
        root: u64,
        author: &Author,
        removed: &mut Vec<u64>,
    ) -> Result<()> {
        // Marks on the way down (a depth-first walk, parents before children), so the subtree
        // can no longer grow; then it is kept whole; then removed children first.
        let mut marked = Vec::new();
        let mut stack = vec![root];
        let mut steps = 0;
        while let Some(id) = stack.pop() {
            steps += 1;
            if steps > MAX_STEPS {
                return Err(too_large());
            }
            if !self.stories.mark_deleting(id).await? {
                if id == root {
                    return Err(Error::StoryNotFound { id });
                }
                continue;
            }
            marked.push(id);
            let children = self.stories.children(id).await?;
            stack.extend(children.into_iter().map(|child| child.id));
        }
        self.keep(project_id, &marked, author).await?;
        // Reversed, a parents-first walk lists every story after all of its descendants.
        for id in marked.into_iter().rev() {
            self.remove(project_id, id).await?;
            removed.push(id);
        }
        Ok(())
    }
}

fn too_large() -> Error {
    Error::DependencyUnavailable {
        dependency: "stories table",
        message:
            "the subtree is too large to delete in one request; repeat the request to continue"
                .into(),
    }
}

impl<S, T, G, L, D, B> Operation for DeleteStory<S, T, G, L, D, B>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    G: ProjectDirectory,
    L: LinkStore,
    D: DocumentStore,
    B: TrashBin,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let id = parse_story_id(&path_parameter(&request, "id").unwrap_or_default())?;
        let cascade = match query_parameter(&request, "cascade") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(Error::InvalidQueryParameter {
                    name: "cascade",
                    message: "must be true or false".into(),
                });
            }
        };
        // Removing a whole subtree takes others' work with it: a maintainer's call.
        let action = if cascade {
            Action::DeleteSubtree
        } else {
            Action::DeleteStory
        };
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), action)
            .await?;
        let id = access.story(id)?;
        let author = Author::of(&access.caller);
        // No read first: marking the story for deletion finds out whether it exists.
        let outcome = if cascade {
            let mut removed = Vec::new();
            let outcome = self
                .delete_subtree(&access.project.id, id, &author, &mut removed)
                .await;
            // Even a delete cut short forgets the links of what it removed; the rest goes
            // when the request is repeated.
            self.links.forget(&access.project.id, &removed).await?;
            outcome
        } else {
            let outcome = self.delete_leaf(&access.project.id, id, &author).await;
            if outcome.is_ok() {
                self.links.forget(&access.project.id, &[id]).await?;
            }
            outcome
        };
        outcome?;
        tracing::info!(story_id = id, cascade, "story deleted");
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::memory_projects::local_gate;
    use crate::handlers::test_support::{
        error_code, json, request, seed_story, seed_test, with_path, with_query,
    };
    use crate::http::respond;
    use lambda_http::http::Method;

    async fn delete(store: &MemoryStore, id: u64, query: &[(&str, &str)]) -> Response<Body> {
        let request = with_query(
            with_path(
                request(Method::DELETE, "/stories/x", ""),
                "id",
                &id.to_string(),
            ),
            query,
        );
        respond(
            &DeleteStory::new(store.clone(), store.clone(), local_gate()),
            request,
        )
        .await
    }

    #[tokio::test]
    async fn a_story_with_children_is_refused_unless_cascading() {
        let store = MemoryStore::new();
        seed_story(&store, "Root", None).await;
        seed_story(&store, "Child", Some(1)).await;
        seed_story(&store, "Grandchild", Some(2)).await;
        seed_test(&store, 3, "a file is downloaded").await;
        let refused = delete(&store, 1, &[]).await;
        assert_eq!(refused.status(), 409);
        assert_eq!(error_code(&refused), "HAS_CHILDREN");
        assert_eq!(json(&refused)["error"]["details"]["children"][0]["id"], 2);
        // The refusal must not leave the story unable to take children.
        assert!(
            StoryRepository::create(
                &store,
                Default::default(),
                crate::model::NewStory {
                    created_by: None,
                    parent_id: Some(1),
                    title: "late".into(),
                    as_a: String::new(),
                    i_want: String::new(),
                    so_that: String::new(),
                    description: String::new(),
                    components: vec![],
                    story_point: None,
                    assignee_email: None,
                },
                chrono::Utc::now()
            )
            .await
            .is_ok()
        );

        assert_eq!(
            delete(&store, 1, &[("cascade", "true")]).await.status(),
            204
        );
        for id in 1..=4 {
            assert!(
                StoryRepository::get(&store, id).await.unwrap().is_none(),
                "story {id}"
            );
        }
        assert!(
            AcceptanceTestRepository::list(&store, 3)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_leaf_goes_with_its_tests_and_a_missing_story_is_404() {
        let store = MemoryStore::new();
        seed_story(&store, "Leaf", None).await;
        seed_test(&store, 1, "a file is downloaded").await;
        assert_eq!(delete(&store, 1, &[]).await.status(), 204);
        assert!(
            AcceptanceTestRepository::list(&store, 1)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(error_code(&delete(&store, 1, &[]).await), "STORY_NOT_FOUND");
        assert_eq!(
            error_code(&delete(&store, 1, &[("cascade", "true")]).await),
            "STORY_NOT_FOUND"
        );
        assert_eq!(
            error_code(&delete(&store, 2, &[("cascade", "yes")]).await),
            "INVALID_QUERY_PARAMETER"
        );
    }
}
