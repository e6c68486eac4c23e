//! Projects and their people: GET/POST /projects (my projects, start one), GET
//! /projects/{key}/me (what I may do here), GET /projects/{key}/members, PUT and DELETE
//! /projects/{key}/members/{sub} (roles, with the last admin kept).

use chrono::Utc;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::authz::gate::Gate;
use crate::authz::{Action, Role};
use crate::error::{Error, FieldError, Result};
use crate::http::{Operation, json_response, parse_json_body, path_parameter};
use crate::ports::ProjectDirectory;
use crate::project::{
    AuditEntry, Membership, Project, RepositoryLink, validate_key, validate_name,
};

mod access;
mod invitations;
mod members;
mod repositories;
mod settings;
pub use access::GetProjectAccess;
pub use invitations::{AcceptInvitation, ChangeInvitation, CreateInvitation, ListInvitations};
pub use members::{ChangeMember, ListMembers};
pub use repositories::ListRepositories;
pub use settings::UpdateProject;

/// How often a membership change is re-read and re-tried when someone changed it meanwhile.
const CHANGE_ATTEMPTS: usize = 3;

/// A project as the API shows it: without its internal counters.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProjectView<'a> {
    id: &'a str,
    key: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    repository: Option<&'a RepositoryLink>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    other_repositories: &'a [RepositoryLink],
    archived: bool,
    done_needs_ci_evidence: bool,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    wip_limits: &'a std::collections::BTreeMap<String, u32>,
    version: u64,
    created_at: chrono::DateTime<Utc>,
}

impl<'a> From<&'a Project> for ProjectView<'a> {
    fn from(project: &'a Project) -> Self {
        Self {
            id: &project.id,
            key: &project.key,
            name: &project.name,
            repository: project.repository.as_ref(),
            other_repositories: &project.other_repositories,
            archived: project.archived,
            done_needs_ci_evidence: project.done_needs_ci_evidence,
            wip_limits: &project.wip_limits,
            version: project.version,
            created_at: project.created_at,
        }
    }
}

pub(crate) fn project_key(request: &Request) -> String {
    path_parameter(request, "key").unwrap_or_default()
}

/// GET /projects: exactly the caller's memberships, each with its project and role.
pub struct ListProjects<G> {
    gate: Gate<G>,
}

impl<G> ListProjects<G> {
    pub fn new(gate: Gate<G>) -> Self {
        Self { gate }
    }
}

impl<G: ProjectDirectory> Operation for ListProjects<G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let caller = self.gate.caller(&request)?;
        let memberships = self.gate.projects().memberships_of(&caller.sub).await?;
        let ids: Vec<String> = memberships.iter().map(|m| m.project_id.clone()).collect();
        let mut projects = self.gate.projects().projects(&ids).await?;
        projects.sort_by(|a, b| a.key.cmp(&b.key));
        let listed: Vec<Value> = projects
            .iter()
            .filter_map(|project| {
                let role = memberships
                    .iter()
                    .find(|membership| membership.project_id == project.id)?
                    .role;
                Some(json!({ "project": ProjectView::from(project), "role": role }))
            })
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({ "projects": listed }),
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateProjectBody {
    key: String,
    name: String,
    repository: Option<RepositoryBody>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RepositoryBody {
    owner: String,
    name: String,
    base_branch: Option<String>,
}

/// GitHub's rules for owner and repository names, and git's for a branch, kept simple: letters,
/// digits, `-`, `_`, `.` (and `/` in a branch), 1–100 characters.
fn repository_link(body: RepositoryBody) -> Result<RepositoryLink, FieldError> {
    let plain = |text: &str, slash: bool| {
        (1..=100).contains(&text.len())
            && !text.starts_with(['.', '/', '-'])
            && !text.contains("..")
            && text.bytes().all(|byte| {
                byte.is_ascii_alphanumeric()
                    || matches!(byte, b'-' | b'_' | b'.')
                    || (slash && byte == b'/')
            })
    };
    let base_branch = body.base_branch.unwrap_or_else(|| "main".to_owned());
    if !plain(&body.owner, false) || !plain(&body.name, false) || !plain(&base_branch, true) {
        return Err(FieldError::new(
            "repository",
            "INVALID_REPOSITORY",
            "owner and name are GitHub names (letters, digits, - _ .) and baseBranch a branch name",
        ));
    }
    Ok(RepositoryLink::new(&body.owner, &body.name, &base_branch))
}

/// `link` as the GitHub App reaches it: with its installation and repository id, connected;
/// 409 `REPOSITORY_DISCONNECTED` when the App is not installed on it, so a maintainer links
/// only what the App can work in.
async fn reached_by<R: crate::ports::RepositoryReach>(
    app: &R,
    link: RepositoryLink,
) -> Result<RepositoryLink> {
    match app.reach(&link.owner, &link.name).await? {
        Some(ids) => Ok(RepositoryLink {
            installation_id: Some(ids.installation_id),
            repository_id: Some(ids.repository_id),
            disconnected: false,
            ..link
        }),
        None => Err(Error::RepositoryDisconnected {
            repository: link.full_name(),
        }),
    }
}

/// POST /projects: reserves the key and makes the caller the project's first admin.
pub struct CreateProject<G, R = crate::ports::WithoutApp> {
    gate: Gate<G>,
    /// With the GitHub App: asked whether it reaches the repository the project links.
    app: Option<R>,
}

impl<G> CreateProject<G> {
    pub fn new(gate: Gate<G>) -> Self {
        Self { gate, app: None }
    }
}

impl<G, R> CreateProject<G, R> {
    /// The same, linking only a repository the GitHub App reaches (`None`: no App).
    pub fn reaching<A>(self, app: Option<A>) -> CreateProject<G, A> {
        CreateProject {
            gate: self.gate,
            app,
        }
    }
}

impl<G: ProjectDirectory, R: crate::ports::RepositoryReach> Operation for CreateProject<G, R> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let caller = self.gate.admit_outside(&request, Action::CreateProject)?;
        let body: CreateProjectBody = parse_json_body(&request)?;
        let mut problems = Vec::new();
        if let Err(problem) = validate_key(&body.key) {
            problems.push(problem);
        }
        let name = validate_name(&body.name).map_err(|problem| problems.push(problem));
        let repository = body
            .repository
            .map(repository_link)
            .transpose()
            .map_err(|problem| problems.push(problem));
        let (Ok(name), Ok(mut repository), true) = (name, repository, problems.is_empty()) else {
            return Err(Error::Validation(problems));
        };
        if let Some(app) = &self.app
            && let Some(link) = repository.take()
        {
            repository = Some(reached_by(app, link).await?);
        }
        let now = Utc::now();
        // An ordinal lost to a taken key is a gap in the id space, nothing more.
        let ordinal = self.gate.projects().allocate_ordinal().await?;
        let project = Project {
            id: uuid::Uuid::new_v4().simple().to_string(),
            key: body.key,
            name,
            ordinal,
            repository,
            other_repositories: Vec::new(),
            archived: false,
            done_needs_ci_evidence: false,
            wip_limits: Default::default(),
            admin_count: 1,
            version: 1,
            created_at: now,
            updated_at: now,
            created_by: Some(caller.sub.clone()),
        };
        let admin = Membership {
            project_id: project.id.clone(),
            member_sub: caller.sub.clone(),
            role: Role::Admin,
            display_name: caller.name.clone(),
            added_at: now,
            added_by: Some(caller.sub.clone()),
        };
        let audit = AuditEntry {
            project_id: project.id.clone(),
            at: now,
            actor: caller.sub.clone(),
            actor_name: caller.name.clone(),
            action: Action::CreateProject.as_str().to_owned(),
            decision: "allow".to_owned(),
            policy: "anyone-creates-projects".to_owned(),
            standing: "non-member".to_owned(),
            target: Some(caller.sub.clone()),
            change: Some("none -> admin".to_owned()),
        };
        if !self
            .gate
            .projects()
            .create_project(&project, &admin, &audit)
            .await?
        {
            return Err(Error::ProjectKeyTaken { key: project.key });
        }
        tracing::info!(project = %project.id, key = %project.key, "project created");
        let mut response = json_response(
            StatusCode::CREATED,
            &json!({ "project": ProjectView::from(&project), "role": Role::Admin }),
        );
        let location = HeaderValue::from_str(&format!("/projects/{}", project.key))
            .map_err(|error| Error::Internal(error.to_string()))?;
        response.headers_mut().insert(header::LOCATION, location);
        Ok(response)
    }
}

/// GET /projects/{key}/me: who the caller is here and what the policy lets them do, with the
/// reason for everything it does not, so the page disables what it may not and says why.
#[cfg(test)]
mod tests;
