//! One module per API operation: each parses its request, asks its ports, shapes its response.

pub mod code_tasks;
pub mod create_acceptance_test;
pub mod create_story;
pub mod delete_acceptance_test;
pub mod delete_story;
pub mod documents;
pub mod drafts;
pub mod follow_ups;
pub mod generate_code;
pub mod get_stories;
pub mod get_story;
pub mod github_webhook;
pub mod health_check;
pub mod history;
pub mod invest_review;
pub mod links;
pub mod live;
pub mod projects;
pub mod revisions;
pub mod set_story_links;
pub mod test_results;
pub mod traceability;
pub mod trash;
pub mod update_acceptance_test;
pub mod update_story;
pub mod upload_tokens;
pub mod views;
pub mod web;

#[cfg(test)]
pub(crate) mod test_support {
    use lambda_http::http::Method;
    use lambda_http::{Body, Request, RequestExt, Response};
    use serde_json::Value;
    use std::collections::HashMap;

    pub fn request(method: Method, path: &str, body: &str) -> Request {
        let mut request = Request::new(Body::from(body));
        *request.method_mut() = method;
        *request.uri_mut() = path.parse().unwrap();
        request
    }

    pub fn with_path(request: Request, name: &str, value: &str) -> Request {
        request.with_path_parameters(HashMap::from([(name.to_owned(), value.to_owned())]))
    }

    pub fn with_query(request: Request, pairs: &[(&str, &str)]) -> Request {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        request.with_query_string_parameters(map)
    }

    /// The request as API Gateway passes it on after its JWT authorizer accepted a token whose
    /// subject is `subject`.
    pub fn authorized_as(request: Request, subject: &str) -> Request {
        authorized_with_claims(request, &[("sub", subject)])
    }

    /// The request as API Gateway passes it on after its JWT authorizer accepted a token with
    /// these claims.
    pub fn authorized_with_claims(request: Request, claims: &[(&str, &str)]) -> Request {
        use lambda_http::aws_lambda_events::apigw::{
            ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
            ApiGatewayV2httpRequestContext,
        };
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        for (name, value) in claims {
            jwt.claims.insert((*name).to_owned(), (*value).to_owned());
        }
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.authorizer = Some(authorizer);
        request.with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(context))
    }

    /// A request by one of the local people (see `local_gate_over`) with path parameters.
    pub fn as_person(
        person: &str,
        method: Method,
        path: &str,
        body: &str,
        params: &[(&str, &str)],
    ) -> Request {
        let mut request = request(method, path, body).with_path_parameters(
            params
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect::<HashMap<_, _>>(),
        );
        request.headers_mut().insert(
            crate::authz::identity::LOCAL_PERSON_HEADER,
            person.parse().unwrap(),
        );
        request
    }

    pub fn json(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    pub async fn seed_story(
        store: &crate::adapters::memory::MemoryStore,
        title: &str,
        parent_id: Option<u64>,
    ) -> crate::model::Story {
        seed_story_in(store, 0, title, parent_id).await
    }

    /// [`seed_story`] in the project whose ordinal is `ordinal` (the default project: 0).
    pub async fn seed_story_in(
        store: &crate::adapters::memory::MemoryStore,
        ordinal: u32,
        title: &str,
        parent_id: Option<u64>,
    ) -> crate::model::Story {
        use crate::ports::StoryRepository;
        let new = crate::model::NewStory {
            created_by: None,
            parent_id,
            title: title.to_owned(),
            as_a: "product manager".into(),
            i_want: "to export stories".into(),
            so_that: "I can share progress".into(),
            description: String::new(),
            components: vec![],
            story_point: Some(3),
            assignee_email: None,
        };
        store
            .create(
                crate::project::StoryNumbering { ordinal },
                new,
                chrono::Utc::now(),
            )
            .await
            .unwrap()
    }

    pub async fn seed_test(
        store: &crate::adapters::memory::MemoryStore,
        story_id: u64,
        then: &str,
    ) -> crate::model::AcceptanceTest {
        use crate::ports::AcceptanceTestRepository;
        let test = crate::model::AcceptanceTest {
            story_id,
            id: format!("t{}", store.list(story_id).await.unwrap().len() + 1),
            key: None,
            title: "export".into(),
            given: vec!["a story".into()],
            when: vec!["the PM exports it".into()],
            then: vec![then.to_owned()],
            status: crate::model::TestStatus::Draft,
            status_set_by: None,
            status_set_at: None,
            needs_review: false,
            version: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        store
            .create(&test, &crate::history::Author::new("tester", None))
            .await
            .unwrap();
        test
    }

    /// A story with one acceptance test, moved to Ready: one that code can be generated for.
    pub async fn seed_ready_story(
        store: &crate::adapters::memory::MemoryStore,
        title: &str,
        then: &str,
    ) -> crate::model::Story {
        seed_ready_story_in(store, 0, title, then).await
    }

    /// [`seed_ready_story`] in the project whose ordinal is `ordinal`.
    pub async fn seed_ready_story_in(
        store: &crate::adapters::memory::MemoryStore,
        ordinal: u32,
        title: &str,
        then: &str,
    ) -> crate::model::Story {
        use crate::ports::StoryRepository;
        let story = seed_story_in(store, ordinal, title, None).await;
        seed_test(store, story.id, then).await;
        let ready = crate::ports::StoryChanges {
            status: Some(crate::model::StoryStatus::Ready),
            ..crate::ports::StoryChanges::default()
        };
        store
            .update(story.id, &ready, &Default::default(), chrono::Utc::now())
            .await
            .unwrap();
        story
    }

    /// POST /stories/{id}/generate-code with an empty body, as a client sends it: the answer.
    pub async fn generate_code(
        store: &crate::adapters::memory::MemoryStore,
        host: &crate::adapters::memory::MemoryCodeHost,
        story_id: u64,
    ) -> Value {
        let projects = crate::adapters::memory_projects::MemoryProjects::with_default_project();
        json(&generate_code_in(store, host, &projects, story_id).await)
    }

    /// generate-code for `story_id` with the projects (and their links) `projects` holds.
    pub async fn generate_code_in(
        store: &crate::adapters::memory::MemoryStore,
        host: &crate::adapters::memory::MemoryCodeHost,
        projects: &crate::adapters::memory_projects::MemoryProjects,
        story_id: u64,
    ) -> Response<Body> {
        generate_code_under(store, host, projects, None, story_id).await
    }

    /// [`generate_code_in`] by `/projects/{key}/…` when `key` is given.
    pub async fn generate_code_under(
        store: &crate::adapters::memory::MemoryStore,
        host: &crate::adapters::memory::MemoryCodeHost,
        projects: &crate::adapters::memory_projects::MemoryProjects,
        key: Option<&str>,
        story_id: u64,
    ) -> Response<Body> {
        let generate = crate::handlers::generate_code::GenerateCode::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            host.clone(),
            crate::adapters::memory_projects::local_gate_over(projects.clone()),
        );
        let mut parameters =
            std::collections::HashMap::from([("id".to_owned(), story_id.to_string())]);
        if let Some(key) = key {
            parameters.insert("key".to_owned(), key.to_owned());
        }
        let request = {
            use lambda_http::RequestExt;
            request(Method::POST, "/x", "").with_path_parameters(parameters)
        };
        crate::http::respond(&generate, request).await
    }

    pub fn error_code(response: &Response<Body>) -> String {
        json(response)["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}
