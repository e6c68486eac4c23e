//! PATCH /stories/{id}: partial updates with optimistic concurrency, reparenting without
//! cycles, and the status workflow.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::links::{StoryLinksView, read_links};
use crate::handlers::traceability::{DoneEvidence, WithoutCiGate};
use crate::handlers::views::StoryView;
use crate::http::{Operation, header, parse_json_body};
use crate::model::{AcceptanceTest, Story, StoryStatus};
use crate::ports::{
    AcceptanceTestRepository, LinkStore, NoLinks, ProjectDirectory, StoryChanges, StoryRepository,
    UpdateGuard, UpdateOutcome,
};
use crate::rules::invest::analyze_linked;
use crate::rules::workflow::{TransitionContext, check_transition};
use crate::validation::{UpdateStoryBody, parse_if_match, validate_story_changes};

/// Without a client version, a write that lost a race is re-read and retried this many times.
const UPDATE_ATTEMPTS: usize = 8;
/// Deeper ancestor chains than this are treated as a cycle rather than walked forever.
const MAX_DEPTH: usize = 1_000;

pub struct UpdateStory<S, T, G, D = WithoutCiGate, L = NoLinks> {
    stories: S,
    tests: T,
    gate: Gate<G>,
    /// What Done is judged by besides the manual statuses.
    done: D,
    /// Where the story's blockers are found: Done waits for them.
    links: L,
}

impl<S, T, G> UpdateStory<S, T, G> {
    pub fn new(stories: S, tests: T, gate: Gate<G>) -> Self {
        Self {
            stories,
            tests,
            gate,
            done: WithoutCiGate,
            links: NoLinks,
        }
    }
}

impl<S, T, G, D, L> UpdateStory<S, T, G, D, L> {
    /// The same, judging Done by CI evidence where a project asks for it.
    pub fn judging_done_by<E>(self, done: E) -> UpdateStory<S, T, G, E, L> {
        UpdateStory {
            stories: self.stories,
            tests: self.tests,
            gate: self.gate,
            done,
            links: self.links,
        }
    }

    /// The same, holding Done back while a blocker is open.
    pub fn with_links<K>(self, links: K) -> UpdateStory<S, T, G, D, K> {
        UpdateStory {
            stories: self.stories,
            tests: self.tests,
            gate: self.gate,
            done: self.done,
            links,
        }
    }
}

impl<S, T, G, D, L> UpdateStory<S, T, G, D, L>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    G: ProjectDirectory,
    D: DoneEvidence,
    L: LinkStore,
{
    /// Refuses a new parent that is the story itself or one of its descendants.
    async fn check_new_parent(&self, id: u64, parent: u64) -> Result<()> {
        let mut ancestor = Some(parent);
        for _ in 0..MAX_DEPTH {
            let Some(current) = ancestor else {
                return Ok(());
            };
            if current == id {
                return Err(Error::ParentCycle { parent_id: parent });
            }
            let story = self
                .stories
                .get(current)
                .await?
                .ok_or(Error::ParentNotFound { id: parent })?;
            ancestor = story.parent_id;
        }
        Err(Error::ParentCycle { parent_id: parent })
    }

    /// Checks a status change against the workflow and records where Blocked returns to.
    #[allow(clippy::too_many_arguments)]
    async fn plan_transition(
        &self,
        project: &crate::project::Project,
        current: &Story,
        tests: &[AcceptanceTest],
        links: &StoryLinksView,
        target: StoryStatus,
        changes: &mut StoryChanges,
        guard: &mut UpdateGuard,
    ) -> Result<()> {
        let candidate = changes.apply_to(current);
        let children = self.stories.children(current.id).await?;
        let ci_evidence = if target == StoryStatus::Done {
            self.done.judge(project, current, tests, None).await?
        } else {
            None
        };
        let invest = analyze_linked(&candidate, tests, Some(&links.blocked_by));
        let open_blockers = links.open_blockers();
        check_transition(
            current.status,
            target,
            &TransitionContext {
                invest: &invest,
                accept_warnings: candidate.accept_warnings,
                tests,
                children: &children,
                blocked_from: current.blocked_from,
                ci_evidence: ci_evidence.as_deref(),
                open_blockers: &open_blockers,
            },
        )
        .map_err(Error::StatusTransitionBlocked)?;
        changes.blocked_from = Some((target == StoryStatus::Blocked).then_some(current.status));
        // The rules were checked against this status; the write only lands if it still holds.
        guard.status = Some(current.status);
        Ok(())
    }
}

impl<S, T, G, D, L> Operation for UpdateStory<S, T, G, D, L>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    G: ProjectDirectory,
    D: DoneEvidence,
    L: LinkStore,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self.gate.enter(&request, ProjectRef::of(&request)).await?;
        let id = access.path_story(&request)?;
        let if_match = parse_if_match(header(&request, "if-match"))?;
        let body: UpdateStoryBody = parse_json_body(&request)?;
        let (mut requested, body_version) = validate_story_changes(body)?;
        // A status move and an edit are separate permissions: a PATCH needs the ones it uses.
        let target = request.uri().path();
        if requested.status.is_some() {
            self.gate
                .require(&access, Action::ChangeStatus, false, target)
                .await?;
        }
        if requested.edits_content() || requested.status.is_none() {
            self.gate
                .require(&access, Action::EditStory, false, target)
                .await?;
        }
        requested.updated_by = Some(access.caller.sub.clone());
        requested.note.author = Some(crate::history::Author::of(&access.caller));
        let expected_version = if_match.or(body_version);

        for _ in 0..UPDATE_ATTEMPTS {
            // The tests serve both the transition check and the response's INVEST analysis
            // (which does not read the review flags set below).
            let (current, tests, links) = tokio::join!(
                self.stories.get(id),
                self.tests.list(id),
                read_links(&self.stories, &self.links, &access.project, id)
            );
            let current = current?.ok_or(Error::StoryNotFound { id })?;
            let (tests, (_, links)) = (tests?, links?);
            if let Some(expected) = expected_version
                && expected != current.version
            {
                return Err(Error::VersionMismatch {
                    current: current.version,
                });
            }
            let mut changes = requested.clone();
            let mut guard = UpdateGuard {
                version: expected_version,
                status: None,
            };
            if let Some(Some(parent)) = changes.parent_id
                && current.parent_id != Some(parent)
            {
                // A parent in another project does not exist from here.
                access
                    .story(parent)
                    .map_err(|_| Error::ParentNotFound { id: parent })?;
                self.check_new_parent(id, parent).await?;
            }
            if let Some(target) = changes.status.filter(|target| *target != current.status) {
                self.plan_transition(
                    &access.project,
                    &current,
                    &tests,
                    &links,
                    target,
                    &mut changes,
                    &mut guard,
                )
                .await?;
            }
            // Flag the tests first: if the story write then fails, a test flagged for review
            // too eagerly is harmless; a changed story with unflagged tests is not.
            if changes.changes_content_of(&current) {
                self.tests.mark_needs_review(id, Utc::now()).await?;
            }
            match self
                .stories
                .update(id, &changes, &guard, Utc::now())
                .await?
            {
                UpdateOutcome::Updated(story) => {
                    return Ok(StoryView::new(&story, &tests)
                        .with_links(links)
                        .respond(StatusCode::OK));
                }
                UpdateOutcome::NotFound => return Err(Error::StoryNotFound { id }),
                UpdateOutcome::Conflict if expected_version.is_some() => {
                    let current = self
                        .stories
                        .get(id)
                        .await?
                        .ok_or(Error::StoryNotFound { id })?;
                    return Err(Error::VersionMismatch {
                        current: current.version,
                    });
                }
                UpdateOutcome::Conflict => {
                    tracing::info!(
                        story_id = id,
                        "story changed during a transition; re-checking"
                    );
                }
            }
        }
        Err(Error::ConcurrentUpdate)
    }
}

#[cfg(test)]
mod tests;
