//! GitHub Actions OIDC tokens against a wiremock issuer whose published keys (JWKS) are RSA
//! keys made here: the right repository with the right audience is accepted; another
//! repository, another audience, an expired token, a forged signature and an unknown key are
//! refused.

use aipm::project::{Project, RepositoryLink};
use aipm::traceability::oidc::{ActionsOidc, OidcRefusal, repository_is_linked};
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AUDIENCE: &str = "https://aipm.example/dev";

/// The JWK of `private_pem`'s public half: its modulus from openssl, e = 65537.
fn jwk(private_pem: &str, kid: &str) -> Value {
    use std::io::Write;
    let mut openssl = std::process::Command::new("openssl")
        .args(["rsa", "-noout", "-modulus"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl runs");
    openssl
        .stdin
        .take()
        .expect("stdin")
        .write_all(private_pem.as_bytes())
        .expect("the key is written");
    let output = openssl.wait_with_output().expect("openssl answers");
    let text = String::from_utf8(output.stdout).expect("text");
    let hex = text.trim().strip_prefix("Modulus=").expect("a modulus");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex"))
        .collect();
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
           "n": encode(&bytes), "e": encode(&[1, 0, 1])})
}

fn token(private_pem: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("the key"),
    )
    .expect("a token")
}

fn claims(issuer: &str, repository: &str, audience: &str, expires_in: i64) -> Value {
    let now = Utc::now().timestamp();
    json!({
        "iss": issuer, "aud": audience, "iat": now - 30, "nbf": now - 30, "exp": now + expires_in,
        "repository": repository, "repository_id": "9001", "sha": "0123456789abcdef0123456789abcdef01234567",
        "ref": "refs/pull/7/merge", "run_id": "77", "run_attempt": "2", "event_name": "pull_request",
        "job_workflow_ref": "acme/shop/.github/workflows/ci.yml@refs/pull/7/merge"
    })
}

fn shop_project() -> Project {
    let now = Utc::now();
    Project {
        id: "shop".into(),
        key: "SHOP".into(),
        name: "Shop".into(),
        ordinal: 1,
        repository: Some(RepositoryLink {
            repository_id: Some(9001),
            ..RepositoryLink::new("acme", "shop", "main")
        }),
        other_repositories: vec![RepositoryLink::new("acme", "docs", "main")],
        archived: false,
        done_needs_ci_evidence: false,
        wip_limits: Default::default(),
        admin_count: 1,
        version: 1,
        created_at: now,
        updated_at: now,
        created_by: None,
    }
}

/// GitHub's stand-in publishing the public half of `private` as `key-1`; and another key, whose
/// signatures are forgeries.
async fn issuer_and_keys() -> (String, String, MockServer) {
    let (private, _) = aipm_tests::github_app_key();
    let (forger, _) = aipm_tests::github_app_key();
    let issuer = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/jwks"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"keys": [jwk(&private, "key-1")]})),
        )
        .mount(&issuer)
        .await;
    (private, forger, issuer)
}

#[tokio::test]
async fn actions_tokens_are_verified_against_the_published_keys() {
    let (private, forger, issuer) = issuer_and_keys().await;
    let oidc = ActionsOidc::new(&issuer.uri(), AUDIENCE).expect("a verifier");
    let good = claims(&issuer.uri(), "acme/shop", AUDIENCE, 300);

    let verified = oidc
        .verify(&token(&private, "key-1", &good))
        .await
        .expect("GitHub's own token for this audience");
    assert_eq!(
        (
            verified.repository.as_str(),
            verified.run_id.as_str(),
            verified.run_attempt.as_str()
        ),
        ("acme/shop", "77", "2")
    );
    assert_eq!(verified.sha.len(), 40);
    assert!(repository_is_linked(&verified, &shop_project()));
    // Once fetched, the keys are reused.
    oidc.verify(&token(&private, "key-1", &good))
        .await
        .expect("valid again");
    let fetches = issuer.received_requests().await.expect("recorded").len();
    assert_eq!(fetches, 1, "the keys are cached");

    // Another repository: the token is genuine, the project does not link it.
    let mut fork = claims(&issuer.uri(), "evil/fork", AUDIENCE, 300);
    fork["repository_id"] = json!("42");
    let elsewhere = oidc
        .verify(&token(&private, "key-1", &fork))
        .await
        .expect("a genuine token");
    assert!(!repository_is_linked(&elsewhere, &shop_project()));
    // A renamed repository is still the one linked: GitHub's id decides.
    let mut renamed = claims(&issuer.uri(), "acme/storefront", AUDIENCE, 300);
    renamed["repository_id"] = json!("9001");
    let renamed = oidc
        .verify(&token(&private, "key-1", &renamed))
        .await
        .expect("a genuine token");
    assert!(repository_is_linked(&renamed, &shop_project()));

    let refusals = [
        (
            token(
                &private,
                "key-1",
                &claims(&issuer.uri(), "acme/shop", "https://other.example", 300),
            ),
            "another audience",
        ),
        (
            token(
                &private,
                "key-1",
                &claims(&issuer.uri(), "acme/shop", AUDIENCE, -600),
            ),
            "expired",
        ),
        (token(&forger, "key-1", &good), "a signature by another key"),
        (
            token(
                &private,
                "key-1",
                &claims("https://token.example", "acme/shop", AUDIENCE, 300),
            ),
            "another issuer",
        ),
    ];
    for (refused, what) in refusals {
        match oidc.verify(&refused).await {
            Err(OidcRefusal::Invalid(reason)) => {
                assert!(!reason.contains("ey"), "{what}: {reason}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    assert_eq!(oidc.verify("not.a.jwt").await, Err(OidcRefusal::Malformed));
    // A key id GitHub does not publish: the keys are fetched again (GitHub rotates them), then
    // the token is refused.
    assert_eq!(
        oidc.verify(&token(&forger, "key-2", &good)).await,
        Err(OidcRefusal::UnknownKey)
    );
    assert_eq!(issuer.received_requests().await.expect("recorded").len(), 2);
}

/// Through the upload operation: a token from the linked repository records the report at the
/// token's commit and run (what the query says is ignored, except a pull_request run's head);
/// another repository is 403 and a forged or expired token 401, each with nothing stored.
#[tokio::test]
async fn the_upload_takes_the_run_from_the_token_and_refuses_other_repositories() {
    use aipm::adapters::memory_evidence::MemoryEvidence;
    use aipm::adapters::memory_projects::MemoryProjects;
    use aipm::handlers::test_results::RecordTestResults;
    use aipm::http::respond;
    use lambda_http::RequestExt;

    let (private, forger, issuer) = issuer_and_keys().await;
    let projects = MemoryProjects::with_default_project();
    projects.link_repository(
        "default",
        Some(RepositoryLink {
            repository_id: Some(9001),
            ..RepositoryLink::new("acme", "shop", "main")
        }),
    );
    let evidence = MemoryEvidence::default();
    let mut test = aipm_tests::sample_test(1, "t1");
    test.key = Some("AT-1".into());
    evidence.add_test(0, test);
    let operation = RecordTestResults::new(projects, evidence.clone()).with_actions_oidc(Some(
        ActionsOidc::new(&issuer.uri(), AUDIENCE).expect("a verifier"),
    ));
    let report = r#"<testsuite name="ci"><testcase classname="shop" name="test_at_1_checkout"/></testsuite>"#;
    let upload = |bearer: String, query: &str| {
        let pairs: std::collections::HashMap<String, String> = query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let request: lambda_http::Request = lambda_http::http::Request::builder()
            .method("POST")
            .uri(format!("/projects/AIPM/test-results?{query}"))
            .header("content-type", "application/xml")
            .header("authorization", format!("Bearer {bearer}"))
            .body(lambda_http::Body::from(report))
            .expect("a request");
        request
            .with_path_parameters(std::collections::HashMap::from([(
                "key".to_owned(),
                "AIPM".to_owned(),
            )]))
            .with_query_string_parameters(pairs)
    };
    let status_and_code = |response: lambda_http::Response<lambda_http::Body>| {
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
        (response.status().as_u16(), body)
    };

    // A push run: the commit is the token's, whatever the query says.
    let push = {
        let mut push = claims(&issuer.uri(), "acme/shop", AUDIENCE, 300);
        push["event_name"] = json!("push");
        push
    };
    let (status, body) = status_and_code(
        respond(
            &operation,
            upload(
                token(&private, "key-1", &push),
                &format!("commit={}", "b".repeat(40)),
            ),
        )
        .await,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["commit"], push["sha"]);
    let recorded = evidence.results();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].2.run, "77#2");
    assert_eq!(
        recorded[0].2.run_url.as_deref(),
        Some("https://github.com/acme/shop/actions/runs/77/attempts/2")
    );

    // A pull_request run tests GitHub's merge commit; the job names the head it checked out.
    let head = "c".repeat(40);
    let mut pull = claims(&issuer.uri(), "acme/shop", AUDIENCE, 300);
    pull["run_id"] = json!("78");
    let (status, body) = status_and_code(
        respond(
            &operation,
            upload(
                token(&private, "key-1", &pull),
                &format!("commit={head}&run=999"),
            ),
        )
        .await,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["commit"], head.as_str());
    assert_eq!(
        evidence.results()[1].2.run,
        "78#2",
        "the run is the token's"
    );

    let mut fork = claims(&issuer.uri(), "evil/fork", AUDIENCE, 300);
    fork["repository_id"] = json!("42");
    let refusals = [
        (
            token(&private, "key-1", &fork),
            403,
            "CI_REPOSITORY_NOT_LINKED",
        ),
        (token(&forger, "key-1", &push), 401, "CI_TOKEN_INVALID"),
        (
            token(
                &private,
                "key-1",
                &claims(&issuer.uri(), "acme/shop", AUDIENCE, -600),
            ),
            401,
            "CI_TOKEN_INVALID",
        ),
        (
            token(
                &private,
                "key-1",
                &claims(&issuer.uri(), "acme/shop", "aipm-other", 300),
            ),
            401,
            "CI_TOKEN_INVALID",
        ),
        ("aipm_ut_guessed".to_owned(), 401, "UPLOAD_TOKEN_INVALID"),
    ];
    for (bearer, expected, code) in refusals {
        let (status, body) = status_and_code(respond(&operation, upload(bearer, "")).await);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (expected, Some(code))
        );
    }
    assert_eq!(evidence.results().len(), 2, "nothing more was stored");
}
