//! DELETE /stories/{id}/tests/{testId}.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::http::{Operation, path_parameter};
use crate::ports::{AcceptanceTestRepository, ProjectDirectory};
use crate::validation::parse_test_id;

pub struct DeleteAcceptanceTest<T, G> {
    tests: T,
    gate: Gate<G>,
}

impl<T: AcceptanceTestRepository, G: ProjectDirectory> DeleteAcceptanceTest<T, G> {
    pub fn new(tests: T, gate: Gate<G>) -> Self {
        Self { tests, gate }
    }
}

impl<T: AcceptanceTestRepository, G: ProjectDirectory> Operation for DeleteAcceptanceTest<T, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::EditTests)
            .await?;
        let story_id = access.path_story(&request)?;
        let id = parse_test_id(&path_parameter(&request, "testId").unwrap_or_default())?;
        let author = crate::history::Author::of(&access.caller);
        if !self.tests.delete(story_id, &id, &author).await? {
            return Err(Error::TestNotFound { story_id, id });
        }
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
    use crate::handlers::test_support::{error_code, request, seed_story, seed_test};
    use crate::http::respond;
    use lambda_http::RequestExt;
    use lambda_http::http::Method;
    use std::collections::HashMap;

    #[tokio::test]
    async fn deletes_once_then_404s() {
        let store = MemoryStore::new();
        seed_story(&store, "Export", None).await;
        let test = seed_test(&store, 1, "a file is downloaded").await;
        let operation = DeleteAcceptanceTest::new(store.clone(), local_gate());
        let call = || {
            request(Method::DELETE, "/stories/1/tests/x", "").with_path_parameters(HashMap::from([
                ("id".to_owned(), "1".to_owned()),
                ("testId".to_owned(), test.id.clone()),
            ]))
        };
        assert_eq!(respond(&operation, call()).await.status(), 204);
        let again = respond(&operation, call()).await;
        assert_eq!(again.status(), 404);
        assert_eq!(error_code(&again), "ACCEPTANCE_TEST_NOT_FOUND");
    }
}
