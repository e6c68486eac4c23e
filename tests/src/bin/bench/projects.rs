//! The project, membership and invitation operations in the benchmark: the invitations they
//! revoke and accept, seeded straight into the projects table, and the event of each request.
//! Every request is the local admin's (the default local person), but accepting, which is the
//! invited person's (Oz, who is no member until the first accept). What is changed by the
//! thousand (settings, members, invitations made, re-sent, revoked and accepted) happens in a
//! project of its own (BNCH), so the default project reads like a real team's.

use aipm::adapters::dynamodb::projects::DynamoProjectDirectory;
use aipm::authz::Role;
use aipm::authz::identity::LOCAL_PERSON_HEADER;
use aipm::ports::ProjectDirectory;
use aipm::project::{
    AuditEntry, DEFAULT_PROJECT_ID, INVITATION_DAYS, Invitation, InvitationStatus, Membership,
    Project, secret_hash,
};
use futures::StreamExt;
use serde_json::{Value, json};

use super::{Backend, Scenario, api_event};

/// The default project's key in the local stack (scripts/local_resources.py seeds it).
const KEY: &str = "AIPM";
/// The project the invitation operations churn through, and its id.
const CHURN_KEY: &str = "BNCH";
const CHURN_ID: &str = "benchinvitations";
/// Pending invitations the default project lists.
const LISTED: usize = 25;
/// The invited person's address in scripts/local-people.json, and their `sub`.
const INVITEE_EMAIL: &str = "oz@aipm.local";
const INVITEE: &str = "local-outsider";

fn revocable(n: usize) -> String {
    format!("benchrevoke{n}")
}

fn acceptable(n: usize) -> String {
    format!("benchaccept{n}")
}

const RESENT: &str = "benchresend";

fn secret(n: usize) -> String {
    format!("benchsecret{n}")
}

/// A project key of capital letters that no other request uses: `BN` and `n` in base 26.
fn fresh_key(mut n: usize) -> String {
    let mut key = String::from("BN");
    loop {
        key.push(char::from(b'A' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            return key;
        }
    }
}

/// The churn project with pending invitations: `count` to revoke, `count` to accept (for Oz,
/// each with its known secret) and one to re-send over and over; and [`LISTED`] pending ones in
/// the default project.
pub async fn seed(backend: &Backend, count: usize) {
    let directory = DynamoProjectDirectory::new(
        aws_sdk_dynamodb::Client::new(&backend.sdk),
        backend.setting("AIPM_PROJECTS_TABLE"),
    );
    let now = chrono::Utc::now();
    let ordinal = directory.allocate_ordinal().await.expect("an ordinal");
    let churn = Project {
        id: CHURN_ID.to_owned(),
        key: CHURN_KEY.to_owned(),
        name: "Invitation churn".to_owned(),
        ordinal,
        repository: None,
        other_repositories: Vec::new(),
        archived: false,
        done_needs_ci_evidence: false,
        wip_limits: Default::default(),
        admin_count: 1,
        version: 1,
        created_at: now,
        updated_at: now,
        created_by: Some("local-admin".to_owned()),
    };
    let admin = Membership {
        project_id: CHURN_ID.to_owned(),
        member_sub: "local-admin".to_owned(),
        role: Role::Admin,
        display_name: Some("Ada Admin".to_owned()),
        added_at: now,
        added_by: None,
    };
    let audit = |project_id: &str| seed_audit(project_id, None);
    let created = directory
        .create_project(&churn, &admin, &audit(CHURN_ID))
        .await
        .expect("the churn project is stored");
    assert!(created, "the key {CHURN_KEY} was free");
    let invitation = |project: &str, id: String, email: String, secret: &str| Invitation {
        project_id: project.to_owned(),
        invitation_id: id,
        email,
        role: Role::Contributor,
        secret_hash: secret_hash(secret),
        status: InvitationStatus::Pending,
        invited_by: "local-admin".to_owned(),
        invited_at: now,
        expires_at: now + chrono::Duration::days(INVITATION_DAYS),
        sent_count: 1,
        accepted_by: None,
        accepted_at: None,
    };
    let mut invitations = vec![invitation(
        CHURN_ID,
        RESENT.to_owned(),
        "resend@example.com".to_owned(),
        "unused",
    )];
    for n in 0..LISTED {
        invitations.push(invitation(
            DEFAULT_PROJECT_ID,
            format!("benchlisted{n}"),
            format!("listed{n}@example.com"),
            "unused",
        ));
    }
    for n in 0..count {
        invitations.push(invitation(
            CHURN_ID,
            revocable(n),
            format!("revoke{n}@example.com"),
            "unused",
        ));
        invitations.push(invitation(
            CHURN_ID,
            acceptable(n),
            INVITEE_EMAIL.to_owned(),
            &secret(n),
        ));
    }
    futures::stream::iter(invitations)
        .map(|invitation| {
            let directory = &directory;
            let audit = audit(&invitation.project_id);
            async move { directory.put_invitation(&invitation, &audit, false).await }
        })
        .buffer_unordered(4)
        .for_each(|stored| async move {
            stored.expect("a benchmark invitation is stored");
        })
        .await;
}

/// The audit entry of something the benchmark seeds, as the local admin.
pub fn seed_audit(project_id: &str, target: Option<String>) -> AuditEntry {
    AuditEntry {
        project_id: project_id.to_owned(),
        at: chrono::Utc::now(),
        actor: "local-admin".to_owned(),
        actor_name: None,
        action: "manageMembers".to_owned(),
        decision: "allow".to_owned(),
        policy: "bench-seed".to_owned(),
        standing: "admin".to_owned(),
        target,
        change: Some("seeded by the benchmark".to_owned()),
    }
}

fn plain() -> Value {
    json!({})
}

pub fn scenarios() -> Vec<Scenario> {
    // Settings and members churn in BNCH too: their audit entries share the project's
    // partition, which the emulator scans whole on every query (DynamoDB reads only what the
    // key condition names).
    let members = format!("/projects/{CHURN_KEY}/members/{{sub}}");
    let listed = format!("/projects/{KEY}/invitations");
    let invitations = format!("/projects/{CHURN_KEY}/invitations");
    vec![
        Scenario {
            function: "list-projects",
            event: Box::new(|_| api_event("GET", "/projects", "/projects", None, plain())),
        },
        Scenario {
            function: "create-project",
            event: Box::new(|n| {
                api_event(
                    "POST",
                    "/projects",
                    "/projects",
                    Some(json!({"key": fresh_key(n), "name": format!("Bench project {n}")})),
                    plain(),
                )
            }),
        },
        Scenario {
            function: "update-project",
            event: Box::new(|n| {
                api_event(
                    "PATCH",
                    "/projects/{key}",
                    &format!("/projects/{CHURN_KEY}"),
                    Some(json!({"name": format!("Invitation churn {n}")})),
                    plain(),
                )
            }),
        },
        Scenario {
            function: "get-project-access",
            event: Box::new(|_| {
                api_event(
                    "GET",
                    "/projects/{key}/me",
                    &format!("/projects/{KEY}/me"),
                    None,
                    plain(),
                )
            }),
        },
        Scenario {
            function: "list-members",
            event: Box::new(|_| {
                api_event(
                    "GET",
                    "/projects/{key}/members",
                    &format!("/projects/{KEY}/members"),
                    None,
                    plain(),
                )
            }),
        },
        // Each request adds a person, whom remove-member's request of the same number removes.
        Scenario {
            function: "set-member",
            event: Box::new({
                let members = members.clone();
                move |n| {
                    api_event(
                        "PUT",
                        "/projects/{key}/members/{sub}",
                        &members.replace("{sub}", &format!("bench-person-{n}")),
                        Some(json!({"role": "contributor", "displayName": format!("Person {n}")})),
                        plain(),
                    )
                }
            }),
        },
        Scenario {
            function: "remove-member",
            event: Box::new(move |n| {
                api_event(
                    "DELETE",
                    "/projects/{key}/members/{sub}",
                    &members.replace("{sub}", &format!("bench-person-{n}")),
                    None,
                    plain(),
                )
            }),
        },
        Scenario {
            function: "create-invitation",
            event: Box::new({
                let invitations = invitations.clone();
                move |n| {
                    api_event(
                        "POST",
                        "/projects/{key}/invitations",
                        &invitations,
                        Some(json!({"email": format!("new{n}@example.com"), "role": "viewer"})),
                        plain(),
                    )
                }
            }),
        },
        Scenario {
            function: "list-invitations",
            event: Box::new({
                move |_| api_event("GET", "/projects/{key}/invitations", &listed, None, plain())
            }),
        },
        Scenario {
            function: "resend-invitation",
            event: Box::new({
                let invitations = invitations.clone();
                move |_| {
                    api_event(
                        "POST",
                        "/projects/{key}/invitations/{invitationId}/resend",
                        &format!("{invitations}/{RESENT}/resend"),
                        None,
                        plain(),
                    )
                }
            }),
        },
        Scenario {
            function: "revoke-invitation",
            event: Box::new(move |n| {
                api_event(
                    "DELETE",
                    "/projects/{key}/invitations/{invitationId}",
                    &format!("{invitations}/{}", revocable(n)),
                    None,
                    plain(),
                )
            }),
        },
        Scenario {
            function: "accept-invitation",
            event: Box::new(|n| {
                let token = format!("{CHURN_ID}.{}.{}", acceptable(n), secret(n));
                api_event(
                    "POST",
                    "/invitations/accept",
                    "/invitations/accept",
                    Some(json!({ "token": token })),
                    json!({ LOCAL_PERSON_HEADER: INVITEE }),
                )
            }),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::fresh_key;

    #[test]
    fn fresh_keys_are_valid_and_distinct() {
        let keys: std::collections::HashSet<String> = (0..2000).map(fresh_key).collect();
        assert_eq!(keys.len(), 2000);
        assert!(keys.iter().all(
            |key| (2..=10).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_uppercase())
        ));
    }
}
