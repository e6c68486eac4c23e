//! Invitations end to end over the in-memory directory: invite, list, accept once, re-send
//! (the old link dies), revoke, expiry, another email, and who may do what.

use super::*;
use crate::adapters::memory_projects::{MemoryProjects, local_gate_over};
use crate::handlers::test_support::{as_person, error_code, json};
use crate::http::respond;
use lambda_http::http::Method;

async fn invite(
    projects: &MemoryProjects,
    person: &str,
    email: &str,
    role: &str,
) -> Response<Body> {
    let operation = CreateInvitation::new(local_gate_over(projects.clone()));
    respond(
        &operation,
        as_person(
            person,
            Method::POST,
            "/projects/AIPM/invitations",
            &format!(r#"{{"email":"{email}","role":"{role}"}}"#),
            &[("key", "AIPM")],
        ),
    )
    .await
}

async fn accept(projects: &MemoryProjects, person: &str, token: &str) -> Response<Body> {
    let operation = AcceptInvitation::new(local_gate_over(projects.clone()));
    respond(
        &operation,
        as_person(
            person,
            Method::POST,
            "/invitations/accept",
            &format!(r#"{{"token":"{token}"}}"#),
            &[],
        ),
    )
    .await
}

async fn change(projects: &MemoryProjects, resend: bool, id: &str) -> Response<Body> {
    let gate = local_gate_over(projects.clone());
    let operation = if resend {
        ChangeInvitation::resend(gate)
    } else {
        ChangeInvitation::revoke(gate)
    };
    respond(
        &operation,
        as_person(
            "local-admin",
            if resend { Method::POST } else { Method::DELETE },
            "/projects/AIPM/invitations/x",
            "",
            &[("key", "AIPM"), ("invitationId", id)],
        ),
    )
    .await
}

async fn role_of(projects: &MemoryProjects, sub: &str) -> Option<Role> {
    projects
        .access(crate::project::DEFAULT_PROJECT_ID, sub)
        .await
        .unwrap()
        .1
        .map(|member| member.role)
}

#[tokio::test]
async fn an_invitation_is_accepted_once_by_the_person_it_was_sent_to() {
    let projects = MemoryProjects::with_default_project();
    let created = invite(
        &projects,
        "local-admin",
        " Local-Outsider@Example.test",
        "viewer",
    )
    .await;
    assert_eq!(created.status(), 201);
    let created = json(&created);
    assert_eq!(
        created["invitation"]["email"],
        "local-outsider@example.test"
    );
    assert_eq!(created["invitation"]["state"], "pending");
    let token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(created["acceptPath"], format!("/#/join/{token}"));

    // Someone signed in with another email cannot use the link.
    let other = accept(&projects, "local-operator", &token).await;
    assert_eq!(other.status(), 403);
    assert_eq!(error_code(&other), "INVITATION_EMAIL_MISMATCH");
    // A wrong secret is the same as no invitation.
    // The last character is swapped for a different one, so the forgery never equals the token.
    let last = if token.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    assert_eq!(
        error_code(&accept(&projects, "local-outsider", &forged).await),
        "INVITATION_NOT_FOUND"
    );

    assert_eq!(role_of(&projects, "local-outsider").await, None);
    let joined = accept(&projects, "local-outsider", &token).await;
    assert_eq!(joined.status(), 200);
    assert_eq!(json(&joined)["role"], "viewer");
    assert_eq!(json(&joined)["project"]["key"], "AIPM");
    assert_eq!(
        role_of(&projects, "local-outsider").await,
        Some(Role::Viewer)
    );
    let again = accept(&projects, "local-outsider", &token).await;
    assert_eq!(again.status(), 409);
    assert_eq!(json(&again)["error"]["details"]["state"], "accepted");

    let listed = respond(
        &ListInvitations::new(local_gate_over(projects.clone())),
        as_person(
            "local-admin",
            Method::GET,
            "/projects/AIPM/invitations",
            "",
            &[("key", "AIPM")],
        ),
    )
    .await;
    let listed = json(&listed);
    assert_eq!(listed["invitations"][0]["state"], "accepted");
    assert_eq!(listed["invitations"][0]["acceptedBy"], "local-outsider");
    assert!(listed.to_string().find("secret").is_none(), "{listed}");
    let log = projects.audit_log();
    assert!(log.iter().any(|entry| entry.action == "acceptInvitation"
        && entry.change.as_deref()
            == Some("none -> viewer (invitation to local-outsider@example.test)")));
}

#[tokio::test]
async fn a_resent_link_replaces_the_old_one_and_a_revoked_one_is_dead() {
    let projects = MemoryProjects::with_default_project();
    let first = json(
        &invite(
            &projects,
            "local-admin",
            "local-outsider@example.test",
            "contributor",
        )
        .await,
    );
    let id = first["invitation"]["invitationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_token = first["token"].as_str().unwrap().to_owned();
    let resent = change(&projects, true, &id).await;
    assert_eq!(resent.status(), 200);
    let resent = json(&resent);
    assert_eq!(resent["invitation"]["sentCount"], 2);
    let new_token = resent["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, old_token);
    assert_eq!(
        error_code(&accept(&projects, "local-outsider", &old_token).await),
        "INVITATION_NOT_FOUND"
    );

    assert_eq!(change(&projects, false, &id).await.status(), 204);
    let revoked = accept(&projects, "local-outsider", &new_token).await;
    assert_eq!(json(&revoked)["error"]["details"]["state"], "revoked");
    assert_eq!(role_of(&projects, "local-outsider").await, None);
    assert_eq!(
        error_code(&change(&projects, true, &id).await),
        "INVITATION_NOT_PENDING"
    );
    assert_eq!(
        error_code(&change(&projects, false, "nope").await),
        "INVITATION_NOT_FOUND"
    );
}

#[tokio::test]
async fn an_expired_link_is_refused_and_joining_never_lowers_a_role() {
    let projects = MemoryProjects::with_default_project();
    let created = json(
        &invite(
            &projects,
            "local-admin",
            "local-maintainer@example.test",
            "viewer",
        )
        .await,
    );
    let token = created["token"].as_str().unwrap().to_owned();
    let id = created["invitation"]["invitationId"]
        .as_str()
        .unwrap()
        .to_owned();
    // A maintainer invited as viewer stays maintainer.
    assert_eq!(
        json(&accept(&projects, "local-maintainer", &token).await)["role"],
        "maintainer"
    );
    assert_eq!(
        role_of(&projects, "local-maintainer").await,
        Some(Role::Maintainer)
    );
    let _ = id;

    let expiring = json(
        &invite(
            &projects,
            "local-admin",
            "local-outsider@example.test",
            "viewer",
        )
        .await,
    );
    let id = expiring["invitation"]["invitationId"]
        .as_str()
        .unwrap()
        .to_owned();
    projects.expire_invitation(crate::project::DEFAULT_PROJECT_ID, &id);
    let late = accept(
        &projects,
        "local-outsider",
        expiring["token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(late.status(), 409);
    assert_eq!(json(&late)["error"]["details"]["state"], "expired");
    // Re-sending renews it.
    let renewed = json(&change(&projects, true, &id).await);
    assert_eq!(renewed["invitation"]["state"], "pending");
    assert_eq!(
        accept(
            &projects,
            "local-outsider",
            renewed["token"].as_str().unwrap()
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn only_admins_invite_and_bad_input_is_a_clear_400() {
    let projects = MemoryProjects::with_default_project();
    let refused = invite(&projects, "local-maintainer", "a@example.test", "viewer").await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        json(&refused)["error"]["details"]["permission"],
        "manageMembers"
    );
    let outsider = invite(&projects, "local-outsider", "a@example.test", "viewer").await;
    assert_eq!(outsider.status(), 404);
    let bad = invite(&projects, "local-admin", "not-an-email", "owner").await;
    assert_eq!(bad.status(), 400);
    let bad = json(&bad);
    let fields: Vec<&str> = bad["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "role"]);
    for token in ["", "x", "a.b.c.d", "../../etc.passwd.x"] {
        assert_eq!(
            error_code(&accept(&projects, "local-outsider", token).await),
            "INVITATION_NOT_FOUND",
            "{token}"
        );
    }
    // An archived project takes nobody in.
    let created = json(
        &invite(
            &projects,
            "local-admin",
            "local-outsider@example.test",
            "viewer",
        )
        .await,
    );
    projects.set_archived(crate::project::DEFAULT_PROJECT_ID, true);
    let archived = accept(
        &projects,
        "local-outsider",
        created["token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(archived.status(), 403);
    assert_eq!(
        json(&archived)["error"]["details"]["policy"],
        "archived-read-only"
    );
}
