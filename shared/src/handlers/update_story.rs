//! PATCH /stories/{id}: partial updates with optimistic concurrency, reparenting without
//! cycles, and the status workflow.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::error::{Error, Result};
use crate::handlers::views::StoryView;
use crate::http::{Operation, caller, header, parse_json_body, path_parameter};
use crate::model::{AcceptanceTest, Story, StoryStatus};
use crate::ports::{
    AcceptanceTestRepository, StoryChanges, StoryRepository, UpdateGuard, UpdateOutcome,
};
use crate::rules::invest::analyze;
use crate::rules::workflow::{TransitionContext, check_transition};
use crate::validation::{UpdateStoryBody, parse_if_match, parse_story_id, validate_story_changes};

/// Without a client version, a write that lost a race is re-read and retried this many times.
const UPDATE_ATTEMPTS: usize = 8;
/// Deeper ancestor chains than this are treated as a cycle rather than walked forever.
const MAX_DEPTH: usize = 1_000;

pub struct UpdateStory<S, T> {
    stories: S,
    tests: T,
}

impl<S: StoryRepository, T: AcceptanceTestRepository> UpdateStory<S, T> {
    pub fn new(stories: S, tests: T) -> Self {
        Self { stories, tests }
    }

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
    async fn plan_transition(
        &self,
        current: &Story,
        tests: &[AcceptanceTest],
        target: StoryStatus,
        changes: &mut StoryChanges,
        guard: &mut UpdateGuard,
    ) -> Result<()> {
        let candidate = changes.apply_to(current);
        let children = self.stories.children(current.id).await?;
        let invest = analyze(&candidate, tests);
        check_transition(
            current.status,
            target,
            &TransitionContext {
                invest: &invest,
                accept_warnings: candidate.accept_warnings,
                tests,
                children: &children,
                blocked_from: current.blocked_from,
            },
        )
        .map_err(Error::StatusTransitionBlocked)?;
        changes.blocked_from = Some((target == StoryStatus::Blocked).then_some(current.status));
        // The rules were checked against this status; the write only lands if it still holds.
        guard.status = Some(current.status);
        Ok(())
    }
}

impl<S: StoryRepository, T: AcceptanceTestRepository> Operation for UpdateStory<S, T> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let id = parse_story_id(&path_parameter(&request, "id").unwrap_or_default())?;
        let if_match = parse_if_match(header(&request, "if-match"))?;
        let body: UpdateStoryBody = parse_json_body(&request)?;
        let (mut requested, body_version) = validate_story_changes(body)?;
        requested.updated_by = caller(&request);
        let expected_version = if_match.or(body_version);

        for _ in 0..UPDATE_ATTEMPTS {
            // The tests serve both the transition check and the response's INVEST analysis
            // (which does not read the review flags set below).
            let (current, tests) = tokio::join!(self.stories.get(id), self.tests.list(id));
            let current = current?.ok_or(Error::StoryNotFound { id })?;
            let tests = tests?;
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
                self.check_new_parent(id, parent).await?;
            }
            if let Some(target) = changes.status.filter(|target| *target != current.status) {
                self.plan_transition(&current, &tests, target, &mut changes, &mut guard)
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
                    return Ok(StoryView::new(&story, &tests).respond(StatusCode::OK));
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
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::handlers::test_support::{
        error_code, json, request, seed_story, seed_test, with_path,
    };
    use crate::http::respond;
    use crate::model::TestStatus;
    use crate::ports::{AcceptanceTestRepository, TestChanges};
    use lambda_http::http::Method;
    use serde_json::Value;

    fn operation(store: &MemoryStore) -> UpdateStory<MemoryStore, MemoryStore> {
        UpdateStory::new(store.clone(), store.clone())
    }

    async fn patch(
        store: &MemoryStore,
        id: u64,
        body: &str,
        if_match: Option<&str>,
    ) -> Response<Body> {
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
        let updated = json(&respond(&operation(&store), signed_in).await);
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
}
