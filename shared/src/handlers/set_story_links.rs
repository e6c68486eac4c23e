//! PUT /stories/{id}/links: replaces a story's "blocked by", "blocking" or "relates to" links
//! (each list sent replaces that relation), checked against the whole project's graph: no link
//! to itself, no loop of blockers, no blocking link within one branch of the tree.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use std::collections::HashMap;

use crate::authz::Action;
use crate::authz::gate::{Access, Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::links::{ancestors, read_links};
use crate::handlers::views::StoryView;
use crate::http::{Operation, header, parse_json_body};
use crate::ports::{
    AcceptanceTestRepository, LinkStore, LinkWrite, ProjectDirectory, StoryRepository,
};
use crate::project::story_key;
use crate::rules::dependencies::{LinkChange, LinkRefusal, check_change};
use crate::validation::parse_if_match;

/// A write that lost a race to another link change is re-checked this many times.
const WRITE_ATTEMPTS: usize = 8;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SetLinksBody {
    blocked_by: Option<Vec<u64>>,
    blocking: Option<Vec<u64>>,
    relates_to: Option<Vec<u64>>,
}

pub struct SetStoryLinks<S, T, L, G> {
    stories: S,
    tests: T,
    links: L,
    gate: Gate<G>,
}

impl<S, T, L, G> SetStoryLinks<S, T, L, G> {
    pub fn new(stories: S, tests: T, links: L, gate: Gate<G>) -> Self {
        Self {
            stories,
            tests,
            links,
            gate,
        }
    }
}

fn refused(access: &Access, id: u64, refusal: LinkRefusal) -> Error {
    let key = |id| story_key(&access.project.key, id);
    match refusal {
        LinkRefusal::ToSelf => Error::LinkToSelf { id },
        LinkRefusal::Cycle(ids) => Error::LinkCycle {
            cycle: ids.iter().map(|id| key(*id)).collect(),
            ids,
        },
        LinkRefusal::Lineage { other, other_is } => Error::LinkToLineage {
            other,
            other_key: key(other),
            relation: other_is,
        },
        LinkRefusal::TooMany { limit } => Error::TooManyLinks { limit },
    }
}

impl<S, T, L, G> SetStoryLinks<S, T, L, G>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    L: LinkStore,
    G: ProjectDirectory,
{
    /// One attempt: read, check, write. `Ok(None)` when the write lost a race.
    async fn attempt(
        &self,
        access: &Access,
        id: u64,
        change: &LinkChange,
        expected_version: Option<u64>,
    ) -> Result<Option<()>> {
        let linked = change.linked();
        let (story, graph, found) = tokio::join!(
            self.stories.get(id),
            self.links.graph(&access.project.id),
            self.stories.get_many(&linked)
        );
        let story = story?.ok_or(Error::StoryNotFound { id })?;
        if let Some(expected) = expected_version
            && expected != story.version
        {
            return Err(Error::VersionMismatch {
                current: story.version,
            });
        }
        let (graph, found) = (graph?, found?);
        if let Some(missing) = linked
            .iter()
            .find(|other| !found.iter().any(|story| story.id == **other))
        {
            return Err(Error::LinkTargetNotFound { id: *missing });
        }
        let mut chains = HashMap::from([(id, ancestors(&self.stories, &story).await?)]);
        for other in &found {
            chains.insert(other.id, ancestors(&self.stories, other).await?);
        }
        let links =
            check_change(&graph, id, change, &chains).map_err(|why| refused(access, id, why))?;
        let now = Utc::now();
        let entry = crate::history::HistoryEntry::links_changed(
            id,
            &graph.links,
            &links,
            crate::history::Author::of(&access.caller),
            now,
        );
        let written = self
            .links
            .write(
                &access.project.id,
                &LinkWrite {
                    story_id: id,
                    story_version: story.version,
                    updated_by: &access.caller.sub,
                    entry: entry.as_ref(),
                    now,
                    linked: &linked,
                    graph_version: graph.version,
                    links: &links,
                },
            )
            .await?;
        Ok(written.then_some(()))
    }
}

impl<S, T, L, G> Operation for SetStoryLinks<S, T, L, G>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    L: LinkStore,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::EditStory)
            .await?;
        let id = access.path_story(&request)?;
        let expected_version = parse_if_match(header(&request, "if-match"))?;
        let body: SetLinksBody = parse_json_body(&request)?;
        let change = LinkChange {
            blocked_by: body.blocked_by,
            blocking: body.blocking,
            relates_to: body.relates_to,
        };
        // Another project's story does not exist from here.
        for other in change.linked() {
            access
                .story(other)
                .map_err(|_| Error::LinkTargetNotFound { id: other })?;
        }
        for _ in 0..WRITE_ATTEMPTS {
            if self
                .attempt(&access, id, &change, expected_version)
                .await?
                .is_some()
            {
                let (story, tests) = tokio::join!(self.stories.get(id), self.tests.list(id));
                let story = story?.ok_or(Error::StoryNotFound { id })?;
                let tests = tests?;
                let (_, links) =
                    read_links(&self.stories, &self.links, &access.project, id).await?;
                return Ok(StoryView::new(&story, &tests)
                    .with_links(links)
                    .respond(StatusCode::OK));
            }
            tracing::info!(story_id = id, "links changed during the write; re-checking");
        }
        Err(Error::ConcurrentUpdate)
    }
}

#[cfg(test)]
mod tests;
