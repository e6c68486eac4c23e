//! Sign-in from the page where the stage uses JWT auth, in a real Chromium: the web function is
//! configured for Cognito managed login, and a wiremock server plays Cognito's documented
//! `/oauth2/authorize` (a redirect back with a code) and `/oauth2/token` (the code and the PKCE
//! verifier for tokens). The page must send a S256 challenge, trade the code with the verifier that
//! matches it, come back to the page the user was on, and go through sign-in again on a 401.

use std::sync::{Arc, Mutex};

use aipm_tests::browser::Browser;
use aipm_tests::gateway::LocalGateway;
use aipm_tests::{Backend, temp_dir};
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const CLIENT_ID: &str = "web-client";
const CODE: &str = "code-from-cognito";

/// What the fake login page saw: the challenges it was sent and the codes it handed out.
#[derive(Default)]
struct Login {
    challenges: Vec<String>,
    tokens_issued: usize,
}

fn query(request: &Request, name: &str) -> Option<String> {
    request
        .url
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// `GET /oauth2/authorize`: the user signs in at once and is sent back with a code.
struct Authorize(Arc<Mutex<Login>>);

impl Respond for Authorize {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let valid = query(request, "response_type").as_deref() == Some("code")
            && query(request, "client_id").as_deref() == Some(CLIENT_ID)
            && query(request, "code_challenge_method").as_deref() == Some("S256");
        let (Some(redirect), Some(state), Some(challenge), true) = (
            query(request, "redirect_uri"),
            query(request, "state"),
            query(request, "code_challenge"),
            valid,
        ) else {
            return ResponseTemplate::new(400).set_body_string("invalid_request");
        };
        self.0
            .lock()
            .expect("the login state")
            .challenges
            .push(challenge);
        ResponseTemplate::new(302)
            .insert_header("location", format!("{redirect}?code={CODE}&state={state}"))
    }
}

/// `POST /oauth2/token`: tokens only for the code and a verifier whose S256 is a challenge sent.
struct Token(Arc<Mutex<Login>>);

impl Respond for Token {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect();
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        let mut login = self.0.lock().expect("the login state");
        let valid = form.get("grant_type").map(String::as_str) == Some("authorization_code")
            && form.get("code").map(String::as_str) == Some(CODE)
            && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && login.challenges.contains(&challenge);
        if !valid {
            return ResponseTemplate::new(400)
                .insert_header("access-control-allow-origin", "*")
                .set_body_json(json!({"error": "invalid_grant"}));
        }
        login.tokens_issued += 1;
        ResponseTemplate::new(200)
            .insert_header("access-control-allow-origin", "*")
            .set_body_json(json!({
                "access_token": format!("access-token-{}", login.tokens_issued),
                "id_token": "id-token",
                "token_type": "Bearer",
                "expires_in": 3600
            }))
    }
}

#[tokio::test]
async fn the_page_signs_in_with_pkce_and_comes_back_where_the_user_was() {
    let cognito = MockServer::start().await;
    let login = Arc::new(Mutex::new(Login::default()));
    Mock::given(method("GET"))
        .and(path("/oauth2/authorize"))
        .respond_with(Authorize(Arc::clone(&login)))
        .mount(&cognito)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth2/token"))
        .respond_with(Token(Arc::clone(&login)))
        .mount(&cognito)
        .await;

    let backend = Backend::start("sign-in").await;
    let mut environment = backend.environment.clone();
    for (name, value) in [
        ("AIPM_AUTH_MODE", "jwt".to_owned()),
        ("AIPM_COGNITO_DOMAIN", cognito.uri()),
        ("AIPM_COGNITO_CLIENT_ID", CLIENT_ID.to_owned()),
        // The functions take the signed-in person from the authorizer, as on AWS; here the
        // gateway plays it for the seeded project's admin.
        (
            aipm_tests::gateway::AUTHORIZER_SUB,
            "local-admin".to_owned(),
        ),
    ] {
        environment.push((name.to_owned(), value));
    }
    let gateway = LocalGateway::start(&environment, &temp_dir("sign-in-logs")).await;
    let browser = Browser::start(&gateway.url, "sign-in", 1280, 800).await;

    // A link to the board: sign in first, then the board.
    browser.open("/#/board").await;
    browser
        .wait_until(
            "back on the board, signed in",
            "location.hash === '#/board' && !location.search && sessionStorage.getItem('aipm.tokens')?.includes('access-token-1')",
        )
        .await;
    browser.wait_for_text(".board", "Draft").await;
    browser.wait_for_text(".top", "Sign out").await;
    assert_eq!(login.lock().expect("the login state").challenges.len(), 1);

    // The API refuses the token (here: the page is told so): sign in again, back to the story.
    browser
        .client
        .execute(
            "const real = window.fetch;\
             window.fetch = (url, init) => String(url).includes('/stories')\
               ? Promise.resolve(new Response('{\"message\":\"Unauthorized\"}', {status: 401}))\
               : real(url, init);\
             location.hash = '#/stories/1';",
            vec![],
        )
        .await
        .expect("a refused request");
    browser
        .wait_until(
            "back on the story, signed in again",
            "location.hash === '#/stories/1' && !location.search && sessionStorage.getItem('aipm.tokens')?.includes('access-token-2')",
        )
        .await;
    let (challenges, tokens_issued) = {
        let login = login.lock().expect("the login state");
        (login.challenges.clone(), login.tokens_issued)
    };
    assert_eq!(challenges.len(), 2, "a fresh challenge per sign-in");
    assert_ne!(challenges[0], challenges[1]);
    assert_eq!(tokens_issued, 2);
    browser.close().await;
}
