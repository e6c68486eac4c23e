//! The GitHub App's authentication against a wiremock GitHub speaking its documented JSON: the
//! App JWT (RS256 with a key made here, `iat` in the past, `exp` within 10 minutes), installation
//! tokens that name exactly one repository id and two permissions, reused while fresh and minted
//! again before they run out, and the installation lookup.

use aipm::adapters::github_app::{AppKey, GitHubApp, InstallationRepository, TOKEN_MARGIN};
use std::process::Command;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const APP_ID: u64 = 424_242;
const INSTALLATION: u64 = 77;
const REPOSITORY: u64 = 123_456;

/// GitHub's answer to a token request: a token that expires in `minutes`.
fn token_answer(token: &str, minutes: i64) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "token": token,
        "expires_at": (Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339(),
        "permissions": {"contents": "write", "pull_requests": "write"},
        "repository_selection": "selected"
    }))
}

fn bearer(request: &Request) -> String {
    request
        .headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .expect("a bearer token")
        .to_owned()
}

#[derive(serde::Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: String,
}

#[tokio::test]
async fn tokens_are_minted_for_one_repository_with_two_permissions_under_a_valid_app_jwt() {
    let (private, public) = aipm_tests::github_app_key();
    let github = MockServer::start().await;
    let route = format!("/app/installations/{INSTALLATION}/access_tokens");
    // The second token runs out too soon for a push: the one after it must be minted anew.
    for (token, minutes, times) in [
        ("ghs_first", 60, Some(1)),
        ("ghs_short", 5, Some(1)),
        ("ghs_third", 60, None),
    ] {
        let mock = Mock::given(method("POST"))
            .and(path(route.clone()))
            .respond_with(token_answer(token, minutes));
        match times {
            Some(times) => mock.up_to_n_times(times).mount(&github).await,
            None => mock.mount(&github).await,
        }
    }

    let app = GitHubApp::new(
        APP_ID,
        AppKey::from_pem(&private).expect("the key parses"),
        &github.uri(),
    );
    let target = InstallationRepository {
        installation_id: INSTALLATION,
        repository_id: REPOSITORY,
    };
    let before = Utc::now().timestamp();
    let first = app.token(target, false).await.expect("a token");
    assert_eq!(first.token, "ghs_first");
    // Fresh for the hour: asked again, the same token, no second request.
    let again = app.token(target, false).await.expect("a token");
    assert_eq!(again.token, "ghs_first");
    assert_eq!(github.received_requests().await.expect("recorded").len(), 1);

    let requests = github.received_requests().await.expect("recorded");
    let request = &requests[0];
    let body: Value = serde_json::from_slice(&request.body).expect("a JSON body");
    assert_eq!(
        body,
        json!({
            "repository_ids": [REPOSITORY],
            "permissions": {"contents": "write", "pull_requests": "write"}
        }),
        "exactly one repository id and the two permissions"
    );

    // The JWT verifies with the App's public key as RS256 and says what GitHub requires.
    let jwt = bearer(request);
    let header = jsonwebtoken::decode_header(&jwt).expect("a JWT header");
    assert_eq!(header.alg, Algorithm::RS256);
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    validation.set_issuer(&[APP_ID.to_string()]);
    let claims = jsonwebtoken::decode::<Claims>(
        &jwt,
        &DecodingKey::from_rsa_pem(public.as_bytes()).expect("the public key"),
        &validation,
    )
    .expect("the JWT verifies with the App's public key")
    .claims;
    let after = Utc::now().timestamp();
    assert_eq!(claims.iss, APP_ID.to_string());
    assert!(claims.iat < before, "iat is in the past");
    assert!(claims.exp > after, "exp is in the future");
    assert!(claims.exp - before <= 600, "exp is at most 10 minutes away");
    // A JWT signed with another key does not verify: the check above could fail.
    let (_, other_public) = aipm_tests::github_app_key();
    assert!(
        jsonwebtoken::decode::<Claims>(
            &jwt,
            &DecodingKey::from_rsa_pem(other_public.as_bytes()).expect("a public key"),
            &validation,
        )
        .is_err()
    );

    // GitHub refused the token (revoked): a refresh mints a new one. That one expires within
    // the margin, so the next use mints again rather than push with it.
    let short = app.token(target, true).await.expect("a token");
    assert_eq!(short.token, "ghs_short");
    assert!(!short.fresh_at(Utc::now()));
    assert!(short.expires_at - Utc::now() < TOKEN_MARGIN);
    let third = app.token(target, false).await.expect("a token");
    assert_eq!(third.token, "ghs_third");
    assert_eq!(github.received_requests().await.expect("recorded").len(), 3);

    // Another repository of the same installation gets a token of its own.
    let other = InstallationRepository {
        installation_id: INSTALLATION,
        repository_id: REPOSITORY + 1,
    };
    app.token(other, false).await.expect("a token");
    let requests = github.received_requests().await.expect("recorded");
    let body: Value = serde_json::from_slice(&requests[3].body).expect("a JSON body");
    assert_eq!(body["repository_ids"], json!([REPOSITORY + 1]));
    // No token reaches a debug print.
    assert!(!format!("{third:?}").contains("ghs_third"));
}

/// GitHub's answers about where the App is installed: on acme (so acme/shop), not on
/// `elsewhere`.
async fn mount_installations(github: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/repos/acme/shop/installation"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": INSTALLATION, "account": {"login": "acme"}, "app_id": APP_ID
        })))
        .mount(github)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/elsewhere/app/installation"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "message": "Not Found",
            "documentation_url": "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app"
        })))
        .mount(github)
        .await;
}

#[tokio::test]
async fn the_installation_of_a_repository_is_found_and_a_refused_jwt_is_a_clear_error() {
    let (private, _) = aipm_tests::github_app_key();
    let github = MockServer::start().await;
    mount_installations(&github).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{INSTALLATION}/access_tokens"
        )))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "A JSON web token could not be decoded",
            "documentation_url": "https://docs.github.com/rest"
        })))
        .mount(&github)
        .await;
    let app = GitHubApp::new(
        APP_ID,
        AppKey::from_pem(&private).expect("the key parses"),
        &github.uri(),
    );
    assert_eq!(
        app.installation_of("acme", "shop")
            .await
            .expect("an answer"),
        Some(INSTALLATION)
    );
    assert_eq!(
        app.installation_of("elsewhere", "app")
            .await
            .expect("an answer"),
        None
    );
    let refused = app
        .token(
            InstallationRepository {
                installation_id: INSTALLATION,
                repository_id: REPOSITORY,
            },
            false,
        )
        .await
        .expect_err("GitHub refused the JWT");
    assert!(
        matches!(refused, aipm::error::Error::CodeHostUnauthorized { .. }),
        "{refused:?}"
    );
    let answer = aipm::http::error_response(&refused, "test");
    assert_eq!(answer.status().as_u16(), 503);
}

/// The manifest helper asks GitHub for the permissions the minted tokens use (plus metadata,
/// which every App reads) and the events the webhook acts on, and nothing more.
#[test]
fn the_manifest_asks_for_what_aipm_uses_and_nothing_more() {
    let root = aipm_tests::repo_root();
    let folder = aipm_tests::temp_dir("app-manifest");
    let page = folder.join("manifest.html");
    let output = Command::new("python3")
        .arg(root.join("scripts/github-app-manifest"))
        .args([
            "--api-url",
            "https://abc.execute-api.eu-west-1.amazonaws.com/",
        ])
        .args(["--org", "acme", "--form"])
        .arg(&page)
        .output()
        .expect("the helper runs");
    assert!(output.status.success(), "{output:?}");
    let manifest: Value = serde_json::from_slice(&output.stdout).expect("a JSON manifest");
    let mut expected: serde_json::Map<String, Value> =
        aipm::adapters::github_app::TOKEN_PERMISSIONS
            .iter()
            .map(|(name, level)| ((*name).to_owned(), json!(level)))
            .collect();
    expected.insert("metadata".into(), json!("read"));
    // Only for workflow_run deliveries: no task token carries it.
    expected.insert("actions".into(), json!("read"));
    assert_eq!(manifest["default_permissions"], Value::Object(expected));
    let events: Vec<&str> = aipm::handlers::github_webhook::payload::EVENTS
        .into_iter()
        .chain(aipm::handlers::github_webhook::installation::APP_EVENTS)
        .collect();
    assert_eq!(manifest["default_events"], json!(events));
    assert_eq!(
        manifest["hook_attributes"]["url"],
        "https://abc.execute-api.eu-west-1.amazonaws.com/webhooks/github"
    );
    assert_eq!(manifest["public"], false);
    let form = std::fs::read_to_string(&page).expect("the form page");
    assert!(form.contains("https://github.com/organizations/acme/settings/apps/new"));
    assert!(form.contains("name=\"manifest\""));
    // GitHub delivers only over HTTPS: a plain URL is refused with a reason.
    let refused = Command::new("python3")
        .arg(root.join("scripts/github-app-manifest"))
        .args(["--api-url", "http://127.0.0.1:3000"])
        .output()
        .expect("the helper runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("https://"));
    std::fs::remove_dir_all(&folder).ok();
}

/// With the App, a maintainer links only a repository the App's installation reaches: the link
/// then records the installation and GitHub's id of the repository; any other is 409 with the
/// link unchanged.
#[tokio::test]
async fn with_the_app_a_project_links_only_a_repository_the_app_reaches() {
    use aipm::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use aipm::handlers::projects::UpdateProject;
    use lambda_http::{Body, Request, RequestExt};
    use wiremock::matchers::body_partial_json;

    let (private, _) = aipm_tests::github_app_key();
    let github = MockServer::start().await;
    mount_installations(&github).await;
    Mock::given(method("POST"))
        .and(path(format!("/app/installations/{INSTALLATION}/access_tokens")))
        .and(body_partial_json(json!({"repositories": ["shop"], "permissions": {"metadata": "read"}})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": "ghs_lookup", "expires_at": (Utc::now() + chrono::Duration::minutes(60)).to_rfc3339(),
            "permissions": {"metadata": "read"}, "repository_selection": "selected",
            "repositories": [{"id": REPOSITORY, "name": "shop", "full_name": "acme/shop"}]
        })))
        .mount(&github)
        .await;
    let app = GitHubApp::new(
        APP_ID,
        AppKey::from_pem(&private).expect("the key parses"),
        &github.uri(),
    );
    let projects = MemoryProjects::with_default_project();
    let update = UpdateProject::new(local_gate_over(projects.clone())).reaching(Some(app));
    let patch = |body: Value| {
        let mut request = Request::new(Body::from(body.to_string())).with_path_parameters(
            std::collections::HashMap::from([("key".to_owned(), "AIPM".to_owned())]),
        );
        *request.method_mut() = lambda_http::http::Method::PATCH;
        *request.uri_mut() = "/projects/AIPM".parse().expect("a path");
        request.headers_mut().insert(
            "content-type",
            "application/json".parse().expect("a header"),
        );
        request
    };
    let linked = aipm::http::respond(
        &update,
        patch(json!({"repository": {"owner": "acme", "name": "shop", "baseBranch": "trunk"}})),
    )
    .await;
    assert_eq!(linked.status().as_u16(), 200);
    let linked: Value = serde_json::from_slice(linked.body().as_ref()).expect("JSON");
    assert_eq!(
        linked["repository"],
        json!({"owner": "acme", "name": "shop", "baseBranch": "trunk",
               "installationId": INSTALLATION, "repositoryId": REPOSITORY})
    );

    let refused = aipm::http::respond(
        &update,
        patch(json!({"repository": {"owner": "elsewhere", "name": "app"}})),
    )
    .await;
    assert_eq!(refused.status().as_u16(), 409);
    let refused: Value = serde_json::from_slice(refused.body().as_ref()).expect("JSON");
    assert_eq!(refused["error"]["code"], "REPOSITORY_DISCONNECTED");
    let kept = futures::executor::block_on(aipm::ports::ProjectDirectory::projects(
        &projects,
        &["default".to_owned()],
    ))
    .expect("the project")
    .remove(0);
    assert_eq!(
        kept.repository.map(|link| link.full_name()),
        Some("acme/shop".to_owned()),
        "the refused link changed nothing"
    );
}

/// A new project, too, links only a repository the App reaches.
#[tokio::test]
async fn with_the_app_a_new_project_links_only_a_repository_the_app_reaches() {
    use aipm::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use aipm::handlers::projects::CreateProject;
    use lambda_http::{Body, Request};

    let (private, _) = aipm_tests::github_app_key();
    let github = MockServer::start().await;
    mount_installations(&github).await;
    let app = GitHubApp::new(
        APP_ID,
        AppKey::from_pem(&private).expect("the key parses"),
        &github.uri(),
    );
    let projects = MemoryProjects::with_default_project();
    let create = CreateProject::new(local_gate_over(projects.clone())).reaching(Some(app));
    let post = |body: Value| {
        let mut request = Request::new(Body::from(body.to_string()));
        *request.method_mut() = lambda_http::http::Method::POST;
        *request.uri_mut() = "/projects".parse().expect("a path");
        request.headers_mut().insert(
            "content-type",
            "application/json".parse().expect("a header"),
        );
        request
    };
    let refused = aipm::http::respond(
        &create,
        post(json!({"key": "SHOP", "name": "Shop",
                    "repository": {"owner": "elsewhere", "name": "app"}})),
    )
    .await;
    assert_eq!(refused.status().as_u16(), 409);
    let refused: Value = serde_json::from_slice(refused.body().as_ref()).expect("JSON");
    assert_eq!(refused["error"]["code"], "REPOSITORY_DISCONNECTED");
    // Nothing was created: the key is still free.
    let created = aipm::http::respond(&create, post(json!({"key": "SHOP", "name": "Shop"}))).await;
    assert_eq!(created.status().as_u16(), 201);
}

/// One installation's repositories as `GET /installation/repositories` lists them.
fn listed(names: &[(u64, &str)]) -> Value {
    let repositories: Vec<Value> = names
        .iter()
        .map(|(id, full_name)| {
            let (owner, name) = full_name.split_once('/').expect("owner/name");
            json!({"id": id, "name": name, "full_name": full_name, "private": true,
                   "owner": {"login": owner, "type": "Organization"}, "default_branch": "trunk"})
        })
        .collect();
    json!({"total_count": repositories.len(), "repositories": repositories})
}

#[tokio::test]
async fn the_repositories_the_app_reaches_are_listed_with_metadata_only_tokens() {
    use wiremock::matchers::{header, query_param};
    let (private, _) = aipm_tests::github_app_key();
    let github = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/app/installations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 77, "account": {"login": "acme"}, "app_id": APP_ID},
            {"id": 88, "account": {"login": "beta"}, "app_id": APP_ID}
        ])))
        .mount(&github)
        .await;
    for (installation, token) in [(77, "ghs_list77"), (88, "ghs_list88")] {
        Mock::given(method("POST"))
            .and(path(format!(
                "/app/installations/{installation}/access_tokens"
            )))
            .respond_with(token_answer(token, 60))
            .mount(&github)
            .await;
    }
    // acme's repositories come in two pages.
    let first_page: Vec<(u64, String)> = (1..=100).map(|n| (n, format!("acme/r{n:03}"))).collect();
    let first_page: Vec<(u64, &str)> = first_page.iter().map(|(id, n)| (*id, n.as_str())).collect();
    let mut page_one = listed(&first_page);
    page_one["total_count"] = json!(101);
    Mock::given(method("GET"))
        .and(path("/installation/repositories"))
        .and(header("authorization", "Bearer ghs_list77"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_one))
        .mount(&github)
        .await;
    let mut page_two = listed(&[(101, "acme/api")]);
    page_two["total_count"] = json!(101);
    Mock::given(method("GET"))
        .and(path("/installation/repositories"))
        .and(header("authorization", "Bearer ghs_list77"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page_two))
        .mount(&github)
        .await;
    Mock::given(method("GET"))
        .and(path("/installation/repositories"))
        .and(header("authorization", "Bearer ghs_list88"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listed(&[(200, "beta/lib")])))
        .mount(&github)
        .await;
    let app = GitHubApp::new(
        APP_ID,
        AppKey::from_pem(&private).expect("the key parses"),
        &github.uri(),
    );

    let (all, more) = app.reachable_repositories(500).await.expect("a list");
    assert!(!more);
    assert_eq!(all.len(), 102);
    assert_eq!(
        (
            all[0].owner.as_str(),
            all[0].name.as_str(),
            all[0].repository_id
        ),
        ("acme", "api", 101),
        "sorted by name, the second page included"
    );
    let lib = all.last().expect("beta/lib");
    assert_eq!(
        (
            lib.name.as_str(),
            lib.installation_id,
            lib.default_branch.as_str()
        ),
        ("lib", 88, "trunk")
    );
    let requests = github.received_requests().await.expect("recorded");
    let asked: Vec<Value> = requests
        .iter()
        .filter(|r| r.url.path().ends_with("/access_tokens"))
        .map(|r| serde_json::from_slice(&r.body).expect("a JSON body"))
        .collect();
    assert_eq!(
        asked,
        [
            json!({"permissions": {"metadata": "read"}}),
            json!({"permissions": {"metadata": "read"}})
        ],
        "listing asks for nothing that can write"
    );

    let (some, more) = app.reachable_repositories(50).await.expect("a list");
    assert_eq!((some.len(), more), (50, true), "a limit, and said so");
}
