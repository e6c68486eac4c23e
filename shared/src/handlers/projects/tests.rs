//! Unit tests of the project and membership operations against the in-memory projects table.
use super::*;
use crate::adapters::memory_projects::{MemoryProjects, local_gate_over};
use crate::handlers::test_support::{error_code, json, request};
use crate::http::respond;
use lambda_http::RequestExt;
use lambda_http::http::Method;
use std::collections::HashMap;

fn as_person(mut request: Request, sub: &str) -> Request {
    request.headers_mut().insert(
        crate::authz::identity::LOCAL_PERSON_HEADER,
        sub.parse().unwrap(),
    );
    request
}

fn at(method: Method, body: &str, sub: &str, params: &[(&str, &str)]) -> Request {
    let map: HashMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    as_person(request(method, "/projects/x", body), sub).with_path_parameters(map)
}

#[tokio::test]
async fn a_new_project_makes_its_creator_admin_and_its_key_is_never_reused() {
    let projects = MemoryProjects::with_default_project();
    let create = CreateProject::new(local_gate_over(projects.clone()));
    let body = r#"{"key":"SHOP","name":"Shop","repository":{"owner":"acme","name":"shop"}}"#;
    let created = respond(&create, at(Method::POST, body, "local-viewer", &[])).await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["location"], "/projects/SHOP");
    let view = json(&created);
    assert_eq!(view["role"], "admin");
    assert_eq!(view["project"]["repository"]["baseBranch"], "main");
    assert!(view["project"].get("adminCount").is_none());
    let again = respond(&create, at(Method::POST, body, "local-admin", &[])).await;
    assert_eq!(again.status(), 409);
    assert_eq!(error_code(&again), "PROJECT_KEY_TAKEN");
    let bad = respond(
        &create,
        at(
            Method::POST,
            r#"{"key":"shop1","name":" "}"#,
            "local-admin",
            &[],
        ),
    )
    .await;
    assert_eq!(bad.status(), 400);
    let fields: Vec<String> = json(&bad)["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["key", "name"]);

    let list = ListProjects::new(local_gate_over(projects.clone()));
    let mine = json(&respond(&list, at(Method::GET, "", "local-viewer", &[])).await);
    let roles: Vec<(String, String)> = mine["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["project"]["key"].as_str().unwrap().to_owned(),
                entry["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("AIPM".to_owned(), "viewer".to_owned()),
            ("SHOP".to_owned(), "admin".to_owned())
        ]
    );
    let outsider = json(&respond(&list, at(Method::GET, "", "local-outsider", &[])).await);
    assert_eq!(outsider["projects"], serde_json::json!([]));
}

#[tokio::test]
async fn me_says_what_the_person_may_do_and_why_not() {
    let gate = local_gate_over(MemoryProjects::with_default_project());
    let me = GetProjectAccess::new(gate);
    let viewer = json(&respond(&me, at(Method::GET, "", "local-viewer", &[("key", "AIPM")])).await);
    assert_eq!(viewer["role"], "viewer");
    assert_eq!(viewer["permissions"]["viewProject"]["allowed"], true);
    assert_eq!(viewer["permissions"]["generateCode"]["allowed"], false);
    assert_eq!(
        viewer["permissions"]["generateCode"]["reason"],
        "needs the contributor role; you are viewer"
    );
    let contributor = json(
        &respond(
            &me,
            at(Method::GET, "", "local-contributor", &[("key", "AIPM")]),
        )
        .await,
    );
    assert_eq!(contributor["permissions"]["retryTask"]["allowed"], false);
    assert_eq!(contributor["permissions"]["retryTask"]["onOwnTasks"], true);
    let by_id = json(
        &respond(
            &me,
            at(Method::GET, "", "local-viewer", &[("key", "default")]),
        )
        .await,
    );
    assert_eq!(
        by_id["project"]["key"], "AIPM",
        "a project is found by its id too"
    );
    let outsider = respond(
        &me,
        at(Method::GET, "", "local-outsider", &[("key", "AIPM")]),
    )
    .await;
    assert_eq!(outsider.status(), 404);
    assert_eq!(error_code(&outsider), "PROJECT_NOT_FOUND");
}

#[tokio::test]
async fn admins_change_roles_the_last_admin_stays_and_a_removal_counts_at_once() {
    let projects = MemoryProjects::with_default_project();
    let set = ChangeMember::set_role(local_gate_over(projects.clone()));
    let remove = ChangeMember::remove(local_gate_over(projects.clone()));
    let path = |sub: &'static str| [("key", "AIPM"), ("sub", sub)];

    let promoted = respond(
        &set,
        at(
            Method::PUT,
            r#"{"role":"contributor"}"#,
            "local-admin",
            &path("local-viewer"),
        ),
    )
    .await;
    assert_eq!(promoted.status(), 200);
    assert_eq!(json(&promoted)["role"], "contributor");
    let by_contributor = respond(
        &set,
        at(
            Method::PUT,
            r#"{"role":"admin"}"#,
            "local-contributor",
            &path("local-contributor"),
        ),
    )
    .await;
    assert_eq!(by_contributor.status(), 403);
    assert_eq!(
        json(&by_contributor)["error"]["details"]["permission"],
        "manageMembers"
    );
    let demote_last = respond(
        &set,
        at(
            Method::PUT,
            r#"{"role":"viewer"}"#,
            "local-admin",
            &path("local-admin"),
        ),
    )
    .await;
    assert_eq!(demote_last.status(), 409);
    assert_eq!(error_code(&demote_last), "LAST_ADMIN");
    let remove_last = respond(
        &remove,
        at(Method::DELETE, "", "local-admin", &path("local-admin")),
    )
    .await;
    assert_eq!(error_code(&remove_last), "LAST_ADMIN");

    let added = respond(
        &set,
        at(
            Method::PUT,
            r#"{"role":"admin","displayName":"Oz"}"#,
            "local-admin",
            &path("local-outsider"),
        ),
    )
    .await;
    assert_eq!(added.status(), 201);
    let removed = respond(
        &remove,
        at(Method::DELETE, "", "local-admin", &path("local-admin")),
    )
    .await;
    assert_eq!(removed.status(), 204);
    let next = respond(
        &GetProjectAccess::new(local_gate_over(projects.clone())),
        at(Method::GET, "", "local-admin", &[("key", "AIPM")]),
    )
    .await;
    assert_eq!(next.status(), 404, "a removed member's next request");
    let missing = respond(
        &remove,
        at(Method::DELETE, "", "local-outsider", &path("local-admin")),
    )
    .await;
    assert_eq!(error_code(&missing), "MEMBER_NOT_FOUND");

    let changes: Vec<String> = projects
        .audit_log()
        .iter()
        .filter_map(|entry| entry.change.clone())
        .collect();
    assert_eq!(
        changes,
        ["viewer -> contributor", "none -> admin", "admin -> none"]
    );
    let denials = projects
        .audit_log()
        .iter()
        .filter(|entry| entry.decision == "deny")
        .count();
    assert_eq!(
        denials, 2,
        "the contributor's attempt and the removed admin's request"
    );
}

#[tokio::test]
async fn bad_member_requests_are_400s() {
    let set = ChangeMember::set_role(local_gate_over(MemoryProjects::with_default_project()));
    let role = respond(
        &set,
        at(
            Method::PUT,
            r#"{"role":"owner"}"#,
            "local-admin",
            &[("key", "AIPM"), ("sub", "x")],
        ),
    )
    .await;
    assert_eq!(role.status(), 400);
    let sub = respond(
        &set,
        at(
            Method::PUT,
            r#"{"role":"viewer"}"#,
            "local-admin",
            &[("key", "AIPM"), ("sub", "a b")],
        ),
    )
    .await;
    assert_eq!(
        json(&sub)["error"]["details"]["fields"][0]["code"],
        "INVALID_MEMBER"
    );
}
