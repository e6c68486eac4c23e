//! GET /stories/{id}: one story.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::error::{Error, Result};
use crate::http::{Operation, json_response, path_parameter};
use crate::ports::StoryRepository;
use crate::validation::parse_story_id;

pub struct GetStory<R> {
    stories: R,
}

impl<R: StoryRepository> GetStory<R> {
    pub fn new(stories: R) -> Self {
        Self { stories }
    }
}

impl<R: StoryRepository> Operation for GetStory<R> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let raw_id = path_parameter(&request, "id").unwrap_or_default();
        let id = parse_story_id(&raw_id)?;
        let story = self
            .stories
            .get(id)
            .await?
            .ok_or(Error::StoryNotFound { id })?;
        Ok(json_response(StatusCode::OK, &story))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStoryRepository;
    use crate::handlers::test_support::{error_code, json, request, with_path};
    use crate::http::respond;
    use crate::model::NewStory;
    use crate::ports::StoryRepository;
    use chrono::Utc;
    use lambda_http::http::Method;

    async fn get(operation: &GetStory<MemoryStoryRepository>, id: &str) -> Response<Body> {
        let request = with_path(request(Method::GET, "/stories/x", ""), "id", id);
        respond(operation, request).await
    }

    #[tokio::test]
    async fn returns_a_stored_story_and_404s_an_unknown_one() {
        let repository = MemoryStoryRepository::new();
        let new = NewStory {
            parent_id: None,
            title: "Export".into(),
            as_a: String::new(),
            i_want: String::new(),
            so_that: String::new(),
            description: String::new(),
            components: vec![],
            story_point: None,
            assignee_email: None,
        };
        repository.create(new, Utc::now()).await.unwrap();
        let operation = GetStory::new(repository);
        let found = get(&operation, "1").await;
        assert_eq!(found.status(), 200);
        assert_eq!(json(&found)["title"], "Export");
        let missing = get(&operation, "2").await;
        assert_eq!(missing.status(), 404);
        assert_eq!(error_code(&missing), "STORY_NOT_FOUND");
        assert_eq!(json(&missing)["error"]["details"]["id"], 2);
    }

    #[tokio::test]
    async fn a_non_numeric_id_is_400_even_percent_encoded() {
        let operation = GetStory::new(MemoryStoryRepository::new());
        for raw in ["abc", "0", "%2D1", "1%20"] {
            let response = get(&operation, raw).await;
            assert_eq!(response.status(), 400, "{raw}");
            assert_eq!(error_code(&response), "INVALID_STORY_ID", "{raw}");
        }
    }
}
