//! POST /stories/{id}/tests: a new Given/When/Then acceptance test with its health.

use chrono::Utc;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::views::TestView;
use crate::http::{Operation, parse_json_body};
use crate::model::AcceptanceTest;
use crate::ports::{AcceptanceTestRepository, ProjectDirectory};
use crate::validation::{CreateTestBody, validate_new_test};

pub struct CreateAcceptanceTest<T, G> {
    tests: T,
    gate: Gate<G>,
}

impl<T: AcceptanceTestRepository, G: ProjectDirectory> CreateAcceptanceTest<T, G> {
    pub fn new(tests: T, gate: Gate<G>) -> Self {
        Self { tests, gate }
    }
}

/// A short random id, unique within a story (the write refuses a duplicate).
fn new_test_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}", &hex[..10])
}

impl<T: AcceptanceTestRepository, G: ProjectDirectory> Operation for CreateAcceptanceTest<T, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::EditTests)
            .await?;
        let story_id = access.path_story(&request)?;
        let body: CreateTestBody = parse_json_body(&request)?;
        let new = validate_new_test(body)?;
        let now = Utc::now();
        let key = self.tests.allocate_test_key(story_id).await?;
        let test = AcceptanceTest {
            story_id,
            id: new_test_id(),
            key: Some(key),
            title: new.title,
            given: new.given,
            when: new.when,
            then: new.then,
            status: new.status,
            status_set_by: None,
            status_set_at: None,
            needs_review: false,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        // The write checks that the story exists (and is not being deleted) atomically.
        self.tests
            .create(&test, &crate::history::Author::of(&access.caller))
            .await?;
        let mut response = TestView::new(&test).respond(StatusCode::CREATED);
        let location = HeaderValue::from_str(&format!("/stories/{story_id}/tests/{}", test.id))
            .map_err(|error| Error::Internal(error.to_string()))?;
        response.headers_mut().insert(header::LOCATION, location);
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::memory_projects::local_gate;
    use crate::handlers::test_support::{error_code, json, request, seed_story, with_path};
    use crate::http::respond;
    use lambda_http::http::Method;

    async fn post(store: &MemoryStore, story: &str, body: &str) -> Response<Body> {
        let request = with_path(request(Method::POST, "/stories/x/tests", body), "id", story);
        respond(
            &CreateAcceptanceTest::new(store.clone(), local_gate()),
            request,
        )
        .await
    }

    #[tokio::test]
    async fn creates_a_test_with_its_health_and_location() {
        let store = MemoryStore::new();
        seed_story(&store, "Export", None).await;
        let response = post(
            &store,
            "1",
            r#"{"title":"CSV","given":["3 stories"],"when":["export"],"then":["it works"]}"#,
        )
        .await;
        assert_eq!(response.status(), 201);
        let test = json(&response);
        let id = test["id"].as_str().unwrap();
        assert_eq!(
            response.headers()["location"],
            format!("/stories/1/tests/{id}").as_str()
        );
        assert_eq!(test["status"], "Draft");
        assert_eq!(test["storyId"], 1);
        assert_eq!(test["gwtHealth"]["issues"][0]["code"], "UNOBSERVABLE_THEN");
        assert_eq!(test["key"], "AT-1");
        let second = post(
            &store,
            "1",
            r#"{"title":"Headers","then":["a header row"]}"#,
        )
        .await;
        assert_eq!(
            json(&second)["key"],
            "AT-2",
            "numbered per project, in order"
        );
    }

    #[tokio::test]
    async fn the_story_must_exist_and_the_body_be_valid() {
        let store = MemoryStore::new();
        assert_eq!(
            error_code(&post(&store, "9", r#"{"title":"t"}"#).await),
            "STORY_NOT_FOUND"
        );
        seed_story(&store, "Export", None).await;
        assert_eq!(
            error_code(&post(&store, "1", r#"{"then":["x"]}"#).await),
            "VALIDATION_FAILED"
        );
        assert_eq!(
            error_code(&post(&store, "1", r#"{"title":"t","status":"Done"}"#).await),
            "INVALID_FIELD_TYPE"
        );
        assert_eq!(
            error_code(&post(&store, "1", r#"{"title":"t","steps":[]}"#).await),
            "UNKNOWN_FIELD"
        );
    }
}
