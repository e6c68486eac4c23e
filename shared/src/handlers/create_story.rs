//! POST /stories: validate, store under a new sequential id, answer 201 with a Location.

use chrono::Utc;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::handlers::views::StoryView;
use crate::http::{Operation, parse_json_body};
use crate::ports::{ProjectDirectory, StoryRepository};
use crate::validation::{CreateStoryBody, validate_new_story};

pub struct CreateStory<R, G> {
    stories: R,
    gate: Gate<G>,
}

impl<R: StoryRepository, G: ProjectDirectory> CreateStory<R, G> {
    pub fn new(stories: R, gate: Gate<G>) -> Self {
        Self { stories, gate }
    }
}

impl<R: StoryRepository, G: ProjectDirectory> Operation for CreateStory<R, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::CreateStory)
            .await?;
        let body: CreateStoryBody = parse_json_body(&request)?;
        let mut new_story = validate_new_story(body)?;
        if let Some(parent) = new_story.parent_id {
            // A parent in another project is, from here, a parent that does not exist.
            access
                .story(parent)
                .map_err(|_| Error::ParentNotFound { id: parent })?;
        }
        new_story.created_by = Some(crate::history::Author::of(&access.caller));
        let story = self
            .stories
            .create(access.numbering(), new_story, Utc::now())
            .await?;
        tracing::info!(story_id = story.id, "story created");
        let mut response = StoryView::new(&story, &[]).respond(StatusCode::CREATED);
        let location = HeaderValue::from_str(&access.story_location(&request, story.id))
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
    use crate::handlers::test_support::{error_code, json, request};
    use crate::http::respond;
    use lambda_http::http::Method;

    async fn post(
        operation: &CreateStory<MemoryStore, crate::adapters::memory_projects::MemoryProjects>,
        body: &str,
    ) -> Response<Body> {
        respond(operation, request(Method::POST, "/stories", body)).await
    }

    #[tokio::test]
    async fn creates_stories_with_sequential_ids_and_a_location() {
        let operation = CreateStory::new(MemoryStore::new(), local_gate());
        let first = post(
            &operation,
            r#"{"title":"Export CSV","asA":"PM","storyPoint":3}"#,
        )
        .await;
        assert_eq!(first.status(), 201);
        assert_eq!(first.headers()["location"], "/stories/1");
        let story = json(&first);
        assert_eq!(story["id"], 1);
        assert_eq!(story["status"], "Draft");
        assert_eq!(story["version"], 1);
        assert_eq!(story["storyPoint"], 3);
        assert_eq!(story["invest"]["passed"], false);
        let codes: Vec<&str> = story["invest"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|warning| warning["code"].as_str().unwrap())
            .collect();
        assert!(
            codes.contains(&"MISSING_GOAL") && codes.contains(&"NO_ACCEPTANCE_TESTS"),
            "{codes:?}"
        );
        let second = post(&operation, r#"{"title":"Import CSV","parentId":1}"#).await;
        assert_eq!(json(&second)["id"], 2);
        assert_eq!(json(&second)["parentId"], 1);
    }

    #[tokio::test]
    async fn the_creator_is_the_authorizers_subject_and_nothing_else() {
        use crate::handlers::test_support::authorized_as;
        let operation = CreateStory::new(
            MemoryStore::new(),
            crate::adapters::memory_projects::jwt_gate(&[(
                "user-7f3a",
                crate::authz::Role::Contributor,
            )]),
        );
        let mut forged = request(Method::POST, "/stories", r#"{"title":"Export"}"#);
        for (name, value) in [("x-user", "mallory"), ("x-aipm-person", "local-admin")] {
            forged.headers_mut().insert(name, value.parse().unwrap());
        }
        let anonymous = respond(&operation, forged).await;
        assert_eq!(anonymous.status(), 401);
        assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
        let claimed = post(
            &CreateStory::new(MemoryStore::new(), local_gate()),
            r#"{"title":"t","createdBy":"mallory"}"#,
        )
        .await;
        assert_eq!(error_code(&claimed), "UNKNOWN_FIELD");

        let signed_in = authorized_as(
            request(Method::POST, "/stories", r#"{"title":"Export"}"#),
            "user-7f3a",
        );
        let story = json(&respond(&operation, signed_in).await);
        assert_eq!(story["createdBy"], "user-7f3a");
        assert_eq!(story["updatedBy"], "user-7f3a");
    }

    #[tokio::test]
    async fn bad_bodies_get_400s_with_codes_that_say_which() {
        let operation = CreateStory::new(MemoryStore::new(), local_gate());
        for (body, code) in [
            ("{not json", "INVALID_JSON"),
            ("", "INVALID_JSON"),
            (r#"{"asA":"PM"}"#, "VALIDATION_FAILED"),
            (r#"{"title":42}"#, "INVALID_FIELD_TYPE"),
            (r#"{"title":"t","storyPoint":2.5}"#, "INVALID_FIELD_TYPE"),
            (r#"{"title":"t","priority":"high"}"#, "UNKNOWN_FIELD"),
            (r#"{"title":"t","parentId":99}"#, "PARENT_NOT_FOUND"),
        ] {
            let response = post(&operation, body).await;
            assert_eq!(response.status(), 400, "{body}");
            assert_eq!(error_code(&response), code, "{body}");
        }
        let response = post(&operation, r#"{"asA":"PM"}"#).await;
        assert_eq!(
            json(&response)["error"]["details"]["fields"][0]["field"],
            "title"
        );
    }

    #[tokio::test]
    async fn a_body_over_64_kib_is_413() {
        let operation = CreateStory::new(MemoryStore::new(), local_gate());
        let body = format!(
            r#"{{"title":"t","description":"{}"}}"#,
            "x".repeat(65 * 1024)
        );
        let response = post(&operation, &body).await;
        assert_eq!(response.status(), 413);
        assert_eq!(error_code(&response), "PAYLOAD_TOO_LARGE");
    }

    #[tokio::test]
    async fn an_unavailable_table_is_503_and_nothing_is_stored() {
        let repository = MemoryStore::new();
        repository.set_unavailable(true);
        let operation = CreateStory::new(repository, local_gate());
        let response = post(&operation, r#"{"title":"t"}"#).await;
        assert_eq!(response.status(), 503);
        assert_eq!(error_code(&response), "DEPENDENCY_UNAVAILABLE");
        operation.stories.set_unavailable(false);
        let response = post(&operation, r#"{"title":"t"}"#).await;
        assert_eq!(json(&response)["id"], 1);
    }

    #[tokio::test]
    async fn each_project_numbers_its_own_stories_and_sees_only_them() {
        use crate::adapters::memory_projects::{MemoryProjects, local_gate_over};
        use crate::handlers::get_stories::GetStories;
        use crate::handlers::get_story::GetStory;
        use crate::handlers::test_support::with_path;
        use lambda_http::RequestExt;
        let projects = MemoryProjects::with_default_project();
        projects.add_project("SHOP", "local-admin");
        let store = MemoryStore::new();
        let create = CreateStory::new(store.clone(), local_gate_over(projects.clone()));
        let in_project = |request: Request, key: &str| {
            let mut parameters = request
                .path_parameters()
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect::<std::collections::HashMap<_, _>>();
            parameters.insert("key".to_owned(), key.to_owned());
            request.with_path_parameters(parameters)
        };
        let default_story = post(&create, r#"{"title":"Default one"}"#).await;
        assert_eq!(json(&default_story)["id"], 1);
        let shop_story = respond(
            &create,
            in_project(
                request(
                    Method::POST,
                    "/projects/SHOP/stories",
                    r#"{"title":"Shop one"}"#,
                ),
                "SHOP",
            ),
        )
        .await;
        assert_eq!(shop_story.status(), 201);
        let shop_id = (1u64 << 32) + 1;
        assert_eq!(json(&shop_story)["id"], shop_id, "SHOP-1");
        assert_eq!(
            shop_story.headers()["location"],
            format!("/projects/SHOP/stories/{shop_id}").as_str()
        );
        // A parent from the other project does not exist from here.
        let foreign_parent = respond(
            &create,
            in_project(
                request(
                    Method::POST,
                    "/projects/SHOP/stories",
                    r#"{"title":"Child","parentId":1}"#,
                ),
                "SHOP",
            ),
        )
        .await;
        assert_eq!(foreign_parent.status(), 400);
        assert_eq!(error_code(&foreign_parent), "PARENT_NOT_FOUND");

        let list = GetStories::new(store.clone(), local_gate_over(projects.clone()));
        let listed = respond(
            &list,
            in_project(request(Method::GET, "/projects/SHOP/stories", ""), "SHOP"),
        )
        .await;
        let titles: Vec<String> = json(&listed)["stories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|story| story["title"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(titles, ["Shop one"]);
        let default_list = respond(&list, request(Method::GET, "/stories", "")).await;
        assert_eq!(json(&default_list)["stories"].as_array().unwrap().len(), 1);

        let get = GetStory::new(
            store.clone(),
            store.clone(),
            store,
            local_gate_over(projects),
        );
        let crossed = respond(
            &get,
            in_project(
                with_path(
                    request(Method::GET, "/projects/SHOP/stories/1", ""),
                    "id",
                    "1",
                ),
                "SHOP",
            ),
        )
        .await;
        assert_eq!(
            crossed.status(),
            404,
            "the default project's story under SHOP"
        );
        assert_eq!(error_code(&crossed), "STORY_NOT_FOUND");
        let old_route = respond(
            &get,
            with_path(
                request(Method::GET, "/stories/x", ""),
                "id",
                &shop_id.to_string(),
            ),
        )
        .await;
        assert_eq!(
            old_route.status(),
            404,
            "SHOP's story under the default project"
        );
    }
}
