//! PATCH /stories/{id}/tests/{testId}: edit a test or record Pass/Fail.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::views::TestView;
use crate::http::{Operation, header, parse_json_body, path_parameter};
use crate::ports::{AcceptanceTestRepository, ProjectDirectory, TestUpdateOutcome};
use crate::validation::{UpdateTestBody, parse_if_match, parse_test_id, validate_test_changes};

pub struct UpdateAcceptanceTest<T, G> {
    tests: T,
    gate: Gate<G>,
}

impl<T: AcceptanceTestRepository, G: ProjectDirectory> UpdateAcceptanceTest<T, G> {
    pub fn new(tests: T, gate: Gate<G>) -> Self {
        Self { tests, gate }
    }
}

impl<T: AcceptanceTestRepository, G: ProjectDirectory> Operation for UpdateAcceptanceTest<T, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::EditTests)
            .await?;
        let story_id = access.path_story(&request)?;
        let id = parse_test_id(&path_parameter(&request, "testId").unwrap_or_default())?;
        let if_match = parse_if_match(header(&request, "if-match"))?;
        let body: UpdateTestBody = parse_json_body(&request)?;
        let (mut changes, body_version) = validate_test_changes(body)?;
        let expected = if_match.or(body_version);
        let now = Utc::now();
        changes.note.author = Some(crate::history::Author::of(&access.caller));
        if changes.status.is_some() {
            let caller = &access.caller;
            let by = caller.name.clone().unwrap_or_else(|| caller.sub.clone());
            changes.status_set = Some((by, now));
        }
        match self
            .tests
            .update(story_id, &id, &changes, expected, now)
            .await?
        {
            TestUpdateOutcome::Updated(test) => Ok(TestView::new(&test).respond(StatusCode::OK)),
            TestUpdateOutcome::VersionMismatch(current) => Err(Error::VersionMismatch { current }),
            TestUpdateOutcome::NotFound => Err(Error::TestNotFound { story_id, id }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::memory_projects::local_gate;
    use crate::handlers::test_support::{
        error_code, json, request, seed_story, seed_test, with_path,
    };
    use crate::http::respond;
    use lambda_http::http::Method;

    async fn patch(store: &MemoryStore, test_id: &str, body: &str) -> Response<Body> {
        let request = with_path(
            request(Method::PATCH, "/stories/1/tests/x", body),
            "id",
            "1",
        );
        let mut request = request;
        let mut parameters = std::collections::HashMap::new();
        parameters.insert("id".to_owned(), "1".to_owned());
        parameters.insert("testId".to_owned(), test_id.to_owned());
        request = lambda_http::RequestExt::with_path_parameters(request, parameters);
        respond(
            &UpdateAcceptanceTest::new(store.clone(), local_gate()),
            request,
        )
        .await
    }

    #[tokio::test]
    async fn records_pass_and_refuses_stale_versions() {
        let store = MemoryStore::new();
        seed_story(&store, "Export", None).await;
        let test = seed_test(&store, 1, "a file is downloaded").await;
        let passed = patch(&store, &test.id, r#"{"status":"Pass","version":1}"#).await;
        assert_eq!(passed.status(), 200);
        assert_eq!(json(&passed)["status"], "Pass");
        assert_eq!(json(&passed)["version"], 2);
        let marked_by = json(&passed)["statusSetBy"].clone();
        assert!(
            marked_by.as_str().is_some_and(|by| !by.is_empty()),
            "who set Pass is recorded: {}",
            json(&passed)
        );
        assert!(json(&passed)["statusSetAt"].is_string());
        // An edit of the words keeps who set the status.
        let renamed = patch(&store, &test.id, r#"{"title":"Downloads","version":2}"#).await;
        assert_eq!(json(&renamed)["statusSetBy"], marked_by);
        assert_eq!(json(&renamed)["statusSetAt"], json(&passed)["statusSetAt"]);
        // Both changes are in the history, as the person's, and the refused one below is not.
        let recorded: Vec<(crate::history::HistoryAction, String)> = store
            .history()
            .into_iter()
            .skip(2)
            .map(|entry| (entry.action, entry.author.sub))
            .collect();
        assert_eq!(
            recorded,
            [
                (
                    crate::history::HistoryAction::TestEdited,
                    "local-admin".to_owned()
                ),
                (
                    crate::history::HistoryAction::TestEdited,
                    "local-admin".to_owned()
                )
            ]
        );
        let stale = patch(&store, &test.id, r#"{"status":"Fail","version":1}"#).await;
        assert_eq!(stale.status(), 412);
        assert_eq!(store.history().len(), 4);
        assert_eq!(json(&stale)["error"]["details"]["currentVersion"], 3);
        assert_eq!(
            error_code(&patch(&store, "nope", r#"{"status":"Fail"}"#).await),
            "ACCEPTANCE_TEST_NOT_FOUND"
        );
        assert_eq!(
            error_code(&patch(&store, "a%2Fb", r#"{"status":"Fail"}"#).await),
            "INVALID_TEST_ID"
        );
    }
}
