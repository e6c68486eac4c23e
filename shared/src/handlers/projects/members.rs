//! GET /projects/{key}/members, PUT and DELETE /projects/{key}/members/{sub}: roles, with the
//! last admin kept.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::authz::gate::{Gate, ProjectRef};
use crate::authz::{Action, Role};
use crate::error::{Error, FieldError, Result};
use crate::http::{Operation, json_response, parse_json_body, path_parameter};
use crate::ports::{MemberChange, MemberChangeOutcome, ProjectDirectory};
use crate::project::{AuditEntry, Membership, validate_name};

use super::{CHANGE_ATTEMPTS, project_key};

/// GET /projects/{key}/members: everyone in the project with their role.
pub struct ListMembers<G> {
    gate: Gate<G>,
}

impl<G> ListMembers<G> {
    pub fn new(gate: Gate<G>) -> Self {
        Self { gate }
    }
}

impl<G: ProjectDirectory> Operation for ListMembers<G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self
            .gate
            .admit(&request, ProjectRef::Key(&key), Action::ViewProject)
            .await?;
        let mut members = self.gate.projects().members(&access.project.id).await?;
        members.sort_by(|a, b| b.role.cmp(&a.role).then(a.member_sub.cmp(&b.member_sub)));
        let members: Vec<Value> = members.iter().map(member_view).collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({ "members": members }),
        ))
    }
}

fn member_view(member: &Membership) -> Value {
    json!({
        "sub": member.member_sub,
        "role": member.role,
        "displayName": member.display_name,
        "addedAt": member.added_at,
        "addedBy": member.added_by,
    })
}

/// A member's `sub` from the path: what Cognito issues (a UUID) or a local person's name.
fn member_sub(request: &Request) -> Result<String> {
    let sub = path_parameter(request, "sub").unwrap_or_default();
    let valid = (1..=128).contains(&sub.len())
        && sub
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'@'));
    if valid {
        Ok(sub)
    } else {
        Err(Error::Validation(vec![FieldError::new(
            "sub",
            "INVALID_MEMBER",
            "a member is named by their sign-in subject: letters, digits, - _ . @",
        )]))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MemberBody {
    role: String,
    display_name: Option<String>,
}

/// PUT /projects/{key}/members/{sub} (a role for someone, new or not) and DELETE (removal):
/// admins only, never leaving the project without an admin, each change audited in the same
/// write.
pub struct ChangeMember<G> {
    gate: Gate<G>,
    removing: bool,
}

impl<G> ChangeMember<G> {
    /// PUT: give the person a role.
    pub fn set_role(gate: Gate<G>) -> Self {
        Self {
            gate,
            removing: false,
        }
    }

    /// DELETE: take the person out of the project.
    pub fn remove(gate: Gate<G>) -> Self {
        Self {
            gate,
            removing: true,
        }
    }
}

impl<G: ProjectDirectory> Operation for ChangeMember<G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self
            .gate
            .admit(&request, ProjectRef::Key(&key), Action::ManageMembers)
            .await?;
        let sub = member_sub(&request)?;
        let wanted = if self.removing {
            None
        } else {
            let body: MemberBody = parse_json_body(&request)?;
            let role = Role::parse(&body.role).ok_or_else(|| {
                Error::Validation(vec![FieldError::new(
                    "role",
                    "INVALID_ROLE",
                    "role is viewer, contributor, maintainer or admin",
                )])
            })?;
            let display_name = body
                .display_name
                .map(|name| validate_name(&name).map_err(|_| name_problem()))
                .transpose()?;
            Some((role, display_name))
        };
        let project_id = access.project.id.clone();
        for _ in 0..CHANGE_ATTEMPTS {
            let (_, current) = self.gate.projects().access(&project_id, &sub).await?;
            if self.removing && current.is_none() {
                return Err(Error::MemberNotFound { member: sub });
            }
            let now = Utc::now();
            let next = wanted.as_ref().map(|(role, display_name)| Membership {
                project_id: project_id.clone(),
                member_sub: sub.clone(),
                role: *role,
                display_name: display_name
                    .clone()
                    .or_else(|| current.as_ref().and_then(|m| m.display_name.clone())),
                added_at: current.as_ref().map_or(now, |m| m.added_at),
                added_by: current
                    .as_ref()
                    .map_or(Some(access.caller.sub.clone()), |m| m.added_by.clone()),
            });
            let describe = |member: &Option<Membership>| {
                member
                    .as_ref()
                    .map_or("none", |member| member.role.as_str())
                    .to_owned()
            };
            let audit = AuditEntry {
                project_id: project_id.clone(),
                at: now,
                actor: access.caller.sub.clone(),
                actor_name: access.caller.name.clone(),
                action: Action::ManageMembers.as_str().to_owned(),
                decision: "allow".to_owned(),
                policy: access
                    .decide(Action::ManageMembers, false)
                    .policy
                    .to_owned(),
                standing: access.standing.as_str().to_owned(),
                target: Some(sub.clone()),
                change: Some(format!("{} -> {}", describe(&current), describe(&next))),
            };
            let change = MemberChange {
                project_id: project_id.clone(),
                member_sub: sub.clone(),
                current: current.clone(),
                next: next.clone(),
            };
            let entry = membership_entry(&access, &sub, &current, &next, now);
            match self
                .gate
                .projects()
                .change_member(&change, &audit, &entry)
                .await?
            {
                MemberChangeOutcome::Done => {
                    tracing::info!(project = %project_id, member = %sub, change = ?audit.change, "membership changed");
                    return Ok(match next {
                        None => {
                            let mut response = Response::new(Body::Empty);
                            *response.status_mut() = StatusCode::NO_CONTENT;
                            response
                        }
                        Some(member) => json_response(
                            if current.is_some() {
                                StatusCode::OK
                            } else {
                                StatusCode::CREATED
                            },
                            &member_view(&member),
                        ),
                    });
                }
                MemberChangeOutcome::LastAdmin => return Err(Error::LastAdmin { member: sub }),
                MemberChangeOutcome::ProjectMissing => {
                    return Err(Error::ProjectNotFound { reference: key });
                }
                MemberChangeOutcome::Conflict => continue,
            }
        }
        Err(Error::ConcurrentUpdate)
    }
}

fn name_problem() -> Error {
    Error::Validation(vec![FieldError::new(
        "displayName",
        "INVALID_LENGTH",
        "a display name is 1 to 100 characters without control characters",
    )])
}

/// The history entry of a membership change: whose, and the role before → after.
pub(crate) fn membership_entry(
    access: &crate::authz::gate::Access,
    sub: &str,
    current: &Option<Membership>,
    next: &Option<Membership>,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::history::HistoryEntry {
    use crate::history::{Author, FieldChange, HistoryAction, HistoryEntry};
    let role = |member: &Option<Membership>| {
        member.as_ref().map_or(serde_json::Value::Null, |member| {
            member.role.as_str().into()
        })
    };
    let name = next
        .as_ref()
        .or(current.as_ref())
        .and_then(|member| member.display_name.clone())
        .unwrap_or_else(|| sub.to_owned());
    let action = if next.is_some() {
        HistoryAction::MemberChanged
    } else {
        HistoryAction::MemberRemoved
    };
    HistoryEntry::new(
        access.project.ordinal,
        None,
        now,
        Author::of(&access.caller),
        action,
    )
    .about(name)
    .with_changes(vec![FieldChange {
        field: "role".into(),
        before: role(current),
        after: role(next),
    }])
}
