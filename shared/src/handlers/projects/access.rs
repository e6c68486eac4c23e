//! GET /projects/{key}/me: what the caller may do in the project, each action with the reason
//! when not.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, json};

use crate::authz::gate::{Access, Gate, ProjectRef};
use crate::authz::{Action, Facts, Role, Standing, decide};
use crate::error::Result;
use crate::http::{Operation, json_response};
use crate::ports::ProjectDirectory;

use super::{ProjectView, project_key};

/// GET /projects/{key}/me: the caller's standing and, per action, whether they may and why not.
pub struct GetProjectAccess<G> {
    gate: Gate<G>,
}

impl<G> GetProjectAccess<G> {
    pub fn new(gate: Gate<G>) -> Self {
        Self { gate }
    }
}

/// Why an action is refused, in words for the page.
fn refusal(access: &Access, action: Action, owns_task: bool) -> String {
    let facts = Facts {
        archived: access.project.archived,
        owns_task,
    };
    if access.project.archived && !decide(Standing::DeploymentAdmin, action, facts).allowed {
        return "the project is archived: it is read-only until an admin restores it".to_owned();
    }
    match Role::ALL
        .into_iter()
        .find(|role| decide(Standing::Member(*role), action, facts).allowed)
    {
        Some(role) => format!(
            "needs the {} role; you are {}",
            role.as_str(),
            access.standing.as_str()
        ),
        None => "not allowed for anyone in this project".to_owned(),
    }
}

impl<G: ProjectDirectory> Operation for GetProjectAccess<G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self.gate.enter(&request, ProjectRef::Key(&key)).await?;
        let mut permissions = Map::new();
        for action in Action::ALL {
            if action == Action::CreateProject {
                continue;
            }
            let any = access.decide(action, false);
            let own = access.decide(action, true);
            let mut entry = json!({ "allowed": any.allowed });
            if own.allowed != any.allowed {
                entry["onOwnTasks"] = json!(own.allowed);
            }
            if !own.allowed {
                entry["reason"] = json!(refusal(&access, action, true));
            } else if !any.allowed {
                entry["reason"] = json!(format!(
                    "only on the tasks you started; {}",
                    refusal(&access, action, false)
                ));
            }
            permissions.insert(action.as_str().to_owned(), entry);
        }
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "project": ProjectView::from(&access.project),
                "person": {
                    "sub": access.caller.sub,
                    "name": access.caller.name,
                    "deploymentAdmin": access.caller.deployment_admin,
                },
                "role": access.standing.as_str(),
                "permissions": permissions,
            }),
        ))
    }
}
