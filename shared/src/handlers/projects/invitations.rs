//! Invitations: an admin invites an email with a role (POST /projects/{key}/invitations), sees
//! the pending ones (GET), revokes (DELETE …/{invitationId}) or re-sends one (POST
//! …/{invitationId}/resend: a new link, seven more days); whoever holds the link joins with
//! POST /invitations/accept, which binds the invitation to their `sub`, once.

use chrono::{Duration, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ProjectView, project_key};
use crate::authz::Action;
use crate::authz::Role;
use crate::authz::gate::{Access, Gate, ProjectRef};
use crate::error::{Error, FieldError, Result};
use crate::http::{Operation, json_response, parse_json_body, path_parameter};
use crate::ports::{AcceptOutcome, MemberChange, ProjectDirectory};
use crate::project::{
    AuditEntry, INVITATION_DAYS, Invitation, InvitationStatus, Membership, invitation_secret,
    invitation_token, parse_invitation_token, secret_hash, validate_email,
};

/// How often an acceptance is re-read and re-tried when the membership changed meanwhile.
const ACCEPT_ATTEMPTS: usize = 3;

/// An invitation as admins see it: never its secret.
fn invitation_view(invitation: &Invitation) -> Value {
    json!({
        "invitationId": invitation.invitation_id,
        "email": invitation.email,
        "role": invitation.role,
        "state": invitation.state(Utc::now()),
        "invitedBy": invitation.invited_by,
        "invitedAt": invitation.invited_at,
        "expiresAt": invitation.expires_at,
        "sentCount": invitation.sent_count,
        "acceptedBy": invitation.accepted_by,
        "acceptedAt": invitation.accepted_at,
    })
}

/// The answer that carries a link: shown to the admin once, never stored.
fn issued(status: StatusCode, invitation: &Invitation, secret: &str) -> Response<Body> {
    let token = invitation_token(invitation, secret);
    json_response(
        status,
        &json!({
            "invitation": invitation_view(invitation),
            "token": token,
            "acceptPath": format!("/#/join/{token}"),
        }),
    )
}

fn audit(access: &Access, action: Action, target: &str, change: String) -> AuditEntry {
    AuditEntry {
        project_id: access.project.id.clone(),
        at: Utc::now(),
        actor: access.caller.sub.clone(),
        actor_name: access.caller.name.clone(),
        action: action.as_str().to_owned(),
        decision: "allow".to_owned(),
        policy: access.decide(action, false).policy.to_owned(),
        standing: access.standing.as_str().to_owned(),
        target: Some(target.to_owned()),
        change: Some(change),
    }
}

fn invitation_id(request: &Request) -> Result<String> {
    let id = path_parameter(request, "invitationId").unwrap_or_default();
    if (1..=64).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(Error::InvitationNotFound)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    role: String,
}

/// POST /projects/{key}/invitations.
pub struct CreateInvitation<G> {
    gate: Gate<G>,
}

impl<G> CreateInvitation<G> {
    pub fn new(gate: Gate<G>) -> Self {
        Self { gate }
    }
}

impl<G: ProjectDirectory> Operation for CreateInvitation<G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self
            .gate
            .admit(&request, ProjectRef::Key(&key), Action::ManageMembers)
            .await?;
        let body: InviteBody = parse_json_body(&request)?;
        let mut problems = Vec::new();
        let email = validate_email(&body.email).map_err(|problem| problems.push(problem));
        let role = Role::parse(&body.role).ok_or_else(|| {
            problems.push(FieldError::new(
                "role",
                "INVALID_ROLE",
                "role is viewer, contributor, maintainer or admin",
            ))
        });
        let (Ok(email), Ok(role), true) = (email, role, problems.is_empty()) else {
            return Err(Error::Validation(problems));
        };
        let now = Utc::now();
        let (secret, hash) = invitation_secret();
        let invitation = Invitation {
            project_id: access.project.id.clone(),
            invitation_id: uuid::Uuid::new_v4().simple().to_string(),
            email,
            role,
            secret_hash: hash,
            status: InvitationStatus::Pending,
            invited_by: access.caller.sub.clone(),
            invited_at: now,
            expires_at: now + Duration::days(INVITATION_DAYS),
            sent_count: 1,
            accepted_by: None,
            accepted_at: None,
        };
        let entry = audit(
            &access,
            Action::ManageMembers,
            &invitation.email,
            format!("invited as {}", role.as_str()),
        );
        if !self
            .gate
            .projects()
            .put_invitation(&invitation, &entry, false)
            .await?
        {
            return Err(Error::ConcurrentUpdate);
        }
        tracing::info!(project = %access.project.id, invitation = %invitation.invitation_id, "invitation created");
        Ok(issued(StatusCode::CREATED, &invitation, &secret))
    }
}

/// GET /projects/{key}/invitations: every invitation, newest first, with its state.
pub struct ListInvitations<G> {
    gate: Gate<G>,
}

impl<G> ListInvitations<G> {
    pub fn new(gate: Gate<G>) -> Self {
        Self { gate }
    }
}

impl<G: ProjectDirectory> Operation for ListInvitations<G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self
            .gate
            .admit(&request, ProjectRef::Key(&key), Action::ManageMembers)
            .await?;
        let invitations = self.gate.projects().invitations(&access.project.id).await?;
        let listed: Vec<Value> = invitations.iter().map(invitation_view).collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({ "invitations": listed }),
        ))
    }
}

/// DELETE /projects/{key}/invitations/{invitationId} (revoke) and POST …/resend (a new link).
pub struct ChangeInvitation<G> {
    gate: Gate<G>,
    resend: bool,
}

impl<G> ChangeInvitation<G> {
    pub fn revoke(gate: Gate<G>) -> Self {
        Self {
            gate,
            resend: false,
        }
    }

    pub fn resend(gate: Gate<G>) -> Self {
        Self { gate, resend: true }
    }
}

impl<G: ProjectDirectory> Operation for ChangeInvitation<G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self
            .gate
            .admit(&request, ProjectRef::Key(&key), Action::ManageMembers)
            .await?;
        let id = invitation_id(&request)?;
        let directory = self.gate.projects();
        let invitation = directory
            .invitation(&access.project.id, &id)
            .await?
            .ok_or(Error::InvitationNotFound)?;
        // An expired invitation may be re-sent (that is what re-sending is for), not revoked.
        let now = Utc::now();
        let state = invitation.state(now);
        if invitation.status != InvitationStatus::Pending || (!self.resend && state == "expired") {
            return Err(Error::InvitationNotPending { state });
        }
        if !self.resend {
            let entry = audit(
                &access,
                Action::ManageMembers,
                &invitation.email,
                "invitation revoked".to_owned(),
            );
            if !directory
                .revoke_invitation(&access.project.id, &id, &entry)
                .await?
            {
                return Err(Error::InvitationNotPending {
                    state: "accepted or revoked",
                });
            }
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = StatusCode::NO_CONTENT;
            return Ok(response);
        }
        let (secret, hash) = invitation_secret();
        let renewed = Invitation {
            secret_hash: hash,
            expires_at: now + Duration::days(INVITATION_DAYS),
            sent_count: invitation.sent_count + 1,
            ..invitation
        };
        let entry = audit(
            &access,
            Action::ManageMembers,
            &renewed.email,
            "invitation re-sent; the earlier link no longer works".to_owned(),
        );
        if !directory.put_invitation(&renewed, &entry, true).await? {
            return Err(Error::InvitationNotPending {
                state: "accepted or revoked",
            });
        }
        Ok(issued(StatusCode::OK, &renewed, &secret))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptBody {
    token: String,
}

/// POST /invitations/accept: the caller joins the project the link is for, with its role (or
/// keeps a higher one they already hold).
pub struct AcceptInvitation<G> {
    gate: Gate<G>,
}

impl<G> AcceptInvitation<G> {
    pub fn new(gate: Gate<G>) -> Self {
        Self { gate }
    }
}

impl<G: ProjectDirectory> Operation for AcceptInvitation<G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        self.gate.caller(&request)?;
        let body: AcceptBody = parse_json_body(&request)?;
        let (project_id, id, secret) =
            parse_invitation_token(body.token.trim()).ok_or(Error::InvitationNotFound)?;
        let directory = self.gate.projects();
        for _ in 0..ACCEPT_ATTEMPTS {
            let access = self.gate.admit_invitee(&request, project_id).await?;
            let invitation = directory
                .invitation(project_id, id)
                .await?
                .filter(|invitation| invitation.secret_hash == secret_hash(secret))
                .ok_or(Error::InvitationNotFound)?;
            let now = Utc::now();
            if invitation.status != InvitationStatus::Pending || invitation.expires_at <= now {
                return Err(Error::InvitationNotPending {
                    state: invitation.state(now),
                });
            }
            if access
                .caller
                .email
                .as_deref()
                .is_some_and(|email| !email.eq_ignore_ascii_case(&invitation.email))
            {
                return Err(Error::InvitationForAnotherEmail);
            }
            // Joining never lowers a role someone already has.
            let current = match access.role {
                Some(_) => directory.access(project_id, &access.caller.sub).await?.1,
                None => None,
            };
            let role = current
                .as_ref()
                .map_or(invitation.role, |member| member.role.max(invitation.role));
            let change =
                (current.as_ref().map(|member| member.role) != Some(role)).then(|| MemberChange {
                    project_id: project_id.to_owned(),
                    member_sub: access.caller.sub.clone(),
                    current: current.clone(),
                    next: Some(Membership {
                        project_id: project_id.to_owned(),
                        member_sub: access.caller.sub.clone(),
                        role,
                        display_name: access.caller.name.clone(),
                        added_at: current.as_ref().map_or(now, |member| member.added_at),
                        added_by: Some(invitation.invited_by.clone()),
                    }),
                });
            let before = current
                .as_ref()
                .map_or("none", |member| member.role.as_str());
            let entry = audit(
                &access,
                Action::AcceptInvitation,
                &access.caller.sub,
                format!(
                    "{before} -> {} (invitation to {})",
                    role.as_str(),
                    invitation.email
                ),
            );
            let accepted = Invitation {
                status: InvitationStatus::Accepted,
                accepted_by: Some(access.caller.sub.clone()),
                accepted_at: Some(now),
                ..invitation
            };
            let history = change.as_ref().map(|change| {
                super::members::membership_entry(
                    &access,
                    &change.member_sub,
                    &change.current,
                    &change.next,
                    now,
                )
            });
            match directory
                .accept_invitation(&accepted, change.as_ref(), &entry, history.as_ref())
                .await?
            {
                AcceptOutcome::Accepted => {
                    tracing::info!(project = %project_id, invitation = %id, "invitation accepted");
                    return Ok(json_response(
                        StatusCode::OK,
                        &json!({ "project": ProjectView::from(&access.project), "role": role }),
                    ));
                }
                AcceptOutcome::InvitationGone => {
                    // Accepted or revoked meanwhile; or re-sent, so this link is dead.
                    return Err(match directory.invitation(project_id, id).await? {
                        Some(current) if current.status != InvitationStatus::Pending => {
                            Error::InvitationNotPending {
                                state: current.state(Utc::now()),
                            }
                        }
                        _ => Error::InvitationNotFound,
                    });
                }
                AcceptOutcome::ProjectMissing => return Err(Error::InvitationNotFound),
                AcceptOutcome::Conflict => continue,
            }
        }
        Err(Error::ConcurrentUpdate)
    }
}

#[cfg(test)]
mod tests;
