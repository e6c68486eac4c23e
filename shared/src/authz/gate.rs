//! The one place every operation asks whether the person behind a request may act: it finds
//! the caller, reads the project and their membership (one strongly consistent read, never the
//! token's claims, so a removal counts from the next request), asks the policy, and writes
//! denials and deployment-admin overrides to the audit log.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::Utc;
use lambda_http::Request;

use super::identity::{Caller, IdentityMode};
use super::{Action, Decision, Facts, Standing, decide};
use crate::error::{Error, Result};
use crate::ports::ProjectDirectory;
use crate::project::{AuditEntry, DEFAULT_PROJECT_ID, Project, StoryNumbering};

/// Which project a request acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectRef<'a> {
    /// The project today's `/stories/…` routes act on.
    Default,
    /// A project named in the path (`/projects/{key}/…`) by its key, current or from before a
    /// rename, or by its id (keys are capital letters only, ids never are).
    Key(&'a str),
}

impl<'a> ProjectRef<'a> {
    /// The project a request names: `/projects/{key}/…` routes carry a `key` path parameter,
    /// the older un-prefixed routes act on the default project.
    pub fn of(request: &'a Request) -> Self {
        use lambda_http::RequestExt;
        request
            .path_parameters_ref()
            .and_then(|parameters| parameters.first("key"))
            .map_or(ProjectRef::Default, ProjectRef::Key)
    }
}

/// A person admitted to a project: who, where, and as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub caller: Caller,
    pub project: Project,
    pub standing: Standing,
    /// The caller's own role in the project, whatever their standing: a deployment admin's
    /// action is audited only where this role would not have allowed it.
    pub role: Option<super::Role>,
}

impl Access {
    /// The caller in the project with their own role there (if any): a deployment admin stands
    /// as one whatever their role.
    fn new(caller: Caller, project: Project, role: Option<super::Role>) -> Self {
        let standing = match role {
            _ if caller.deployment_admin => Standing::DeploymentAdmin,
            Some(role) => Standing::Member(role),
            None => Standing::Outsider,
        };
        Self {
            caller,
            project,
            standing,
            role,
        }
    }

    /// The story id if it belongs to this project; 404 otherwise, exactly as for a story that
    /// does not exist, so a guessed id of another project reveals nothing.
    pub fn story(&self, id: u64) -> Result<u64> {
        if StoryNumbering::of(&self.project).holds(id) {
            Ok(id)
        } else {
            Err(Error::StoryNotFound { id })
        }
    }

    /// The story named by the request's `{id}` path parameter: 400 unless it is a story id,
    /// 404 unless it is one of this project's.
    pub fn path_story(&self, request: &Request) -> Result<u64> {
        let raw = crate::http::path_parameter(request, "id").unwrap_or_default();
        self.story(crate::validation::parse_story_id(&raw)?)
    }

    /// Where a story of this project is read, under the same routes the request came by.
    pub fn story_location(&self, request: &Request, id: u64) -> String {
        match ProjectRef::of(request) {
            ProjectRef::Default => format!("/stories/{id}"),
            ProjectRef::Key(_) => format!("/projects/{}/stories/{id}", self.project.key),
        }
    }

    /// Whether a code task belongs to this project (its story does); another project's task is
    /// answered as missing.
    pub fn holds_task(&self, task: &crate::model::CodeTask) -> bool {
        self.story(task.story_id).is_ok()
    }

    /// How the project numbers its stories.
    pub fn numbering(&self) -> StoryNumbering {
        StoryNumbering::of(&self.project)
    }

    /// The policy's decision on `action` for this person here, without enforcing it (what the
    /// UI is told it may do).
    pub fn decide(&self, action: Action, owns_task: bool) -> Decision {
        decide(
            self.standing,
            action,
            Facts {
                archived: self.project.archived,
                owns_task,
            },
        )
    }
}

pub struct Gate<P> {
    projects: P,
    identity: IdentityMode,
    /// Keys are reserved forever and never point elsewhere, so what a key resolved to once
    /// holds for the life of the process.
    keys: Mutex<HashMap<String, String>>,
}

impl<P: ProjectDirectory> Gate<P> {
    pub fn new(projects: P, identity: IdentityMode) -> Self {
        Self {
            projects,
            identity,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The directory behind the gate, for the operations that manage projects and members.
    pub fn projects(&self) -> &P {
        &self.projects
    }

    /// The person behind the request; 401 when nobody signed in.
    pub fn caller(&self, request: &Request) -> Result<Caller> {
        self.identity.caller(request).ok_or(Error::Unauthenticated)
    }

    /// Admits the caller to an action outside any project (starting one): the policy decides
    /// on their standing outside it.
    pub fn admit_outside(&self, request: &Request, action: Action) -> Result<Caller> {
        let caller = self.caller(request)?;
        let standing = if caller.deployment_admin {
            Standing::DeploymentAdmin
        } else {
            Standing::Outsider
        };
        let decision = decide(standing, action, Facts::default());
        if decision.allowed {
            Ok(caller)
        } else {
            Err(Error::PermissionDenied {
                permission: action.as_str(),
                standing: standing.as_str(),
                policy: decision.policy,
            })
        }
    }

    /// Admits someone holding an invitation to a project (by id) they may not be a member of
    /// yet: the policy decides on their standing there; a missing project is 404.
    pub async fn admit_invitee(&self, request: &Request, project_id: &str) -> Result<Access> {
        let caller = self.caller(request)?;
        let (found, membership) = self.projects.access(project_id, &caller.sub).await?;
        let project = found.ok_or(Error::InvitationNotFound)?;
        let access = Access::new(
            caller,
            project,
            membership.map(|membership| membership.role),
        );
        self.require(
            &access,
            Action::AcceptInvitation,
            false,
            request.uri().path(),
        )
        .await?;
        Ok(access)
    }

    /// Admits the caller to the project if the policy allows `action` there.
    pub async fn admit(
        &self,
        request: &Request,
        project: ProjectRef<'_>,
        action: Action,
    ) -> Result<Access> {
        let access = self.enter(request, project).await?;
        self.require(&access, action, false, request.uri().path())
            .await?;
        Ok(access)
    }

    /// Admits the caller to a project they may see; 404 when they may not (not a member, or no
    /// such project: the same answer, so existence does not leak).
    pub async fn enter(&self, request: &Request, project: ProjectRef<'_>) -> Result<Access> {
        let caller = self.caller(request)?;
        let reference = match project {
            ProjectRef::Default => DEFAULT_PROJECT_ID,
            ProjectRef::Key(text) => text,
        };
        let not_found = || Error::ProjectNotFound {
            reference: reference.to_owned(),
        };
        // Keys are capital letters only and ids never are: anything else is taken as an id.
        let project_id = if crate::project::validate_key(reference).is_ok() {
            self.project_id(reference).await?.ok_or_else(not_found)?
        } else {
            reference.to_owned()
        };
        let (found, membership) = self.projects.access(&project_id, &caller.sub).await?;
        let project = found.ok_or_else(not_found)?;
        let access = Access::new(
            caller,
            project,
            membership.map(|membership| membership.role),
        );
        let visible = access.decide(Action::ViewProject, false);
        if !visible.allowed {
            self.audit(&access, Action::ViewProject, visible, request.uri().path())
                .await;
            return Err(not_found());
        }
        Ok(access)
    }

    /// Decides for the person a consumer acts for (the webhook starting a revision for the
    /// task's requester): their role read now, as for any request, so a removed or demoted
    /// person's work stops with their next trigger; a refusal is audited like any other.
    pub async fn act_for(
        &self,
        sub: &str,
        deployment_admin: bool,
        project_id: &str,
        action: Action,
        owns_task: bool,
        target: &str,
    ) -> Result<Access> {
        let (found, membership) = self.projects.access(project_id, sub).await?;
        let project = found.ok_or_else(|| Error::ProjectNotFound {
            reference: project_id.to_owned(),
        })?;
        let caller = Caller {
            sub: sub.to_owned(),
            name: None,
            deployment_admin,
            email: None,
        };
        let access = Access::new(caller, project, membership.map(|m| m.role));
        self.require(&access, action, owns_task, target).await?;
        Ok(access)
    }

    /// The id of story `number` of the project `key` names (now or before a rename), if there
    /// is such a project: how a branch `aipm/KEY-n-…` leads back to its story.
    pub async fn story_id_in(&self, key: &str, number: u32) -> Result<Option<u64>> {
        let Some(project_id) = self.project_id(key).await? else {
            return Ok(None);
        };
        let (project, _) = self.projects.access(&project_id, "").await?;
        Ok(project.map(|project| StoryNumbering::of(&project).story_id(number)))
    }

    /// Refuses with 403 (naming the permission) unless the policy allows `action`; `owns_task`
    /// says whether the code task acted on was started by the caller.
    pub async fn require(
        &self,
        access: &Access,
        action: Action,
        owns_task: bool,
        target: &str,
    ) -> Result<()> {
        let decision = access.decide(action, owns_task);
        let own_standing = access.role.map_or(Standing::Outsider, Standing::Member);
        let facts = Facts {
            archived: access.project.archived,
            owns_task,
        };
        let overriding = access.standing == Standing::DeploymentAdmin
            && decision.allowed
            && !decide(own_standing, action, facts).allowed;
        if !decision.allowed || overriding {
            self.audit(access, action, decision, target).await;
        }
        if decision.allowed {
            return Ok(());
        }
        Err(Error::PermissionDenied {
            permission: action.as_str(),
            standing: access.standing.as_str(),
            policy: decision.policy,
        })
    }

    /// [`Gate::require`] for an action on a code task: contributors may act on the tasks they
    /// started, maintainers on any.
    pub async fn require_on_task(
        &self,
        access: &Access,
        action: Action,
        task: &crate::model::CodeTask,
        target: &str,
    ) -> Result<()> {
        let owns_task = task.requested_by.as_deref() == Some(access.caller.sub.as_str());
        self.require(access, action, owns_task, target).await
    }

    /// The id of the project a key names, now or before a rename (cached: keys never move).
    pub async fn project_id(&self, key: &str) -> Result<Option<String>> {
        let cached = self
            .keys
            .lock()
            .map(|keys| keys.get(key).cloned())
            .unwrap_or_default();
        if cached.is_some() {
            return Ok(cached);
        }
        let found = self.projects.project_id_for_key(key).await?;
        if let (Some(id), Ok(mut keys)) = (&found, self.keys.lock()) {
            keys.insert(key.to_owned(), id.clone());
        }
        Ok(found)
    }

    /// Writes a denial or an override to the audit log. A failed write does not change the
    /// answer (a denial stays a denial); it is logged with everything the entry held.
    async fn audit(&self, access: &Access, action: Action, decision: Decision, target: &str) {
        let entry = AuditEntry {
            project_id: access.project.id.clone(),
            at: Utc::now(),
            actor: access.caller.sub.clone(),
            actor_name: access.caller.name.clone(),
            action: action.as_str().to_owned(),
            decision: if decision.allowed { "allow" } else { "deny" }.to_owned(),
            policy: decision.policy.to_owned(),
            standing: access.standing.as_str().to_owned(),
            target: Some(target.to_owned()),
            change: None,
        };
        tracing::info!(
            audit = true,
            project = %entry.project_id,
            actor = %entry.actor,
            action = %entry.action,
            decision = %entry.decision,
            policy = %entry.policy,
            standing = %entry.standing,
            "authorization"
        );
        if let Err(error) = self.projects.record_audit(&entry).await {
            tracing::warn!(%error, "the audit entry was not stored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory_projects::MemoryProjects;
    use crate::authz::identity::LocalPerson;
    use crate::handlers::test_support::request;
    use lambda_http::http::Method;

    fn gate(projects: MemoryProjects) -> Gate<MemoryProjects> {
        let people = [
            "local-admin",
            "local-viewer",
            "local-contributor",
            "local-outsider",
        ]
        .into_iter()
        .map(|sub| LocalPerson {
            sub: sub.into(),
            name: sub.into(),
            deployment_admin: false,
            email: None,
        })
        .chain([LocalPerson {
            sub: "local-operator".into(),
            name: "Operator".into(),
            deployment_admin: true,
            email: None,
        }])
        .collect();
        Gate::new(projects, IdentityMode::LocalPeople(people))
    }

    fn as_person(sub: &str) -> Request {
        let mut request = request(Method::POST, "/stories/1/generate-code", "");
        request.headers_mut().insert(
            super::super::identity::LOCAL_PERSON_HEADER,
            sub.parse().unwrap(),
        );
        request
    }

    #[tokio::test]
    async fn outsiders_get_404_and_low_roles_403_with_the_permission() {
        let projects = MemoryProjects::with_default_project();
        let gate = gate(projects.clone());
        let outsider = gate
            .admit(
                &as_person("local-outsider"),
                ProjectRef::Default,
                Action::GenerateCode,
            )
            .await
            .unwrap_err();
        assert!(matches!(outsider, Error::ProjectNotFound { .. }));
        let unknown_key = gate
            .admit(
                &as_person("local-admin"),
                ProjectRef::Key("NOPE"),
                Action::ViewProject,
            )
            .await
            .unwrap_err();
        assert!(matches!(unknown_key, Error::ProjectNotFound { .. }));
        let viewer = gate
            .admit(
                &as_person("local-viewer"),
                ProjectRef::Default,
                Action::GenerateCode,
            )
            .await
            .unwrap_err();
        assert!(matches!(
            viewer,
            Error::PermissionDenied {
                permission: "generateCode",
                standing: "viewer",
                ..
            }
        ));
        let log = projects.audit_log();
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!(log[0].standing, "non-member");
        assert_eq!(log[1].policy, "default-deny");
        assert!(
            gate.admit(
                &as_person("local-contributor"),
                ProjectRef::Key("AIPM"),
                Action::GenerateCode
            )
            .await
            .is_ok()
        );
    }

    #[tokio::test]
    async fn a_deployment_admin_is_admitted_everywhere_and_audited_but_not_into_an_archive() {
        let projects = MemoryProjects::with_default_project();
        let gate = gate(projects.clone());
        let access = gate
            .admit(
                &as_person("local-operator"),
                ProjectRef::Default,
                Action::ManageMembers,
            )
            .await
            .unwrap();
        assert_eq!(access.standing, Standing::DeploymentAdmin);
        assert_eq!(projects.audit_log()[0].policy, "deployment-admins");
        // Where their own role allows it, nothing is overridden and nothing is audited.
        projects.add_to_default_project("local-operator", crate::authz::Role::Admin);
        gate.admit(
            &as_person("local-operator"),
            ProjectRef::Default,
            Action::ManageMembers,
        )
        .await
        .unwrap();
        assert_eq!(projects.audit_log().len(), 1);
        projects.set_archived(DEFAULT_PROJECT_ID, true);
        let refused = gate
            .admit(
                &as_person("local-operator"),
                ProjectRef::Default,
                Action::EditStory,
            )
            .await
            .unwrap_err();
        assert!(matches!(
            refused,
            Error::PermissionDenied {
                policy: "archived-read-only",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn an_unreadable_directory_is_a_503_not_a_denial() {
        let projects = MemoryProjects::with_default_project();
        projects.set_unavailable(true);
        let failed = gate(projects)
            .admit(
                &as_person("local-admin"),
                ProjectRef::Default,
                Action::ViewProject,
            )
            .await
            .unwrap_err();
        assert!(matches!(failed, Error::DependencyUnavailable { .. }));
    }
}
