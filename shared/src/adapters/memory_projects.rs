//! An in-memory projects table for unit tests: projects, key reservations, memberships and the
//! audit log with the same contracts as the DynamoDB adapter (the last admin stays, changes
//! are conditioned on what was read).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::authz::Role;
use crate::error::{Error, Result};
use crate::ports::{
    AcceptOutcome, MemberChange, MemberChangeOutcome, ProjectDirectory, ProjectUpdateOutcome,
};
use crate::project::{
    AuditEntry, DEFAULT_PROJECT_ID, Invitation, InvitationStatus, Membership, Project,
};

#[derive(Debug, Clone, Default)]
pub struct MemoryProjects {
    state: Arc<Mutex<ProjectsState>>,
}

#[derive(Debug, Default)]
struct ProjectsState {
    projects: BTreeMap<String, Project>,
    keys: BTreeMap<String, String>,
    members: BTreeMap<(String, String), Membership>,
    audit: Vec<AuditEntry>,
    /// Membership history entries, oldest first.
    history: Vec<crate::history::HistoryEntry>,
    invitations: BTreeMap<(String, String), Invitation>,
    last_ordinal: u32,
    unavailable: bool,
}

impl MemoryProjects {
    /// The default project (key `AIPM`) with one member per role, as `scripts/local-up` seeds
    /// it: `local-admin`, `local-maintainer`, `local-contributor`, `local-viewer`.
    pub fn with_default_project() -> Self {
        let projects = Self::default();
        {
            let mut state = projects.lock_any();
            let now = chrono::Utc::now();
            state.projects.insert(
                DEFAULT_PROJECT_ID.to_owned(),
                Project {
                    id: DEFAULT_PROJECT_ID.to_owned(),
                    key: "AIPM".to_owned(),
                    name: "AIPM".to_owned(),
                    ordinal: 0,
                    repository: None,
                    other_repositories: Vec::new(),
                    archived: false,
                    done_needs_ci_evidence: false,
                    wip_limits: Default::default(),
                    admin_count: 1,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                    created_by: None,
                },
            );
            state
                .keys
                .insert("AIPM".to_owned(), DEFAULT_PROJECT_ID.to_owned());
        }
        for role in Role::ALL {
            projects.add_to_default_project(&format!("local-{}", role.as_str()), role);
        }
        projects
    }

    /// Makes `sub` a member of the default project with `role`, as a fixture.
    pub fn add_to_default_project(&self, sub: &str, role: Role) {
        self.lock_any().members.insert(
            (DEFAULT_PROJECT_ID.to_owned(), sub.to_owned()),
            Membership {
                project_id: DEFAULT_PROJECT_ID.to_owned(),
                member_sub: sub.to_owned(),
                role,
                display_name: None,
                added_at: chrono::Utc::now(),
                added_by: None,
            },
        );
    }

    /// Takes `sub` out of the default project, as a fixture (no history, no audit).
    pub fn remove_from_default_project(&self, sub: &str) {
        self.lock_any()
            .members
            .remove(&(DEFAULT_PROJECT_ID.to_owned(), sub.to_owned()));
    }

    /// Adds a second project (`key`, ordinal 1) whose only member is `admin`, as a fixture.
    pub fn add_project(&self, key: &str, admin: &str) {
        let mut state = self.lock_any();
        let mut project = state.projects[DEFAULT_PROJECT_ID].clone();
        state.last_ordinal += 1;
        project.ordinal = state.last_ordinal;
        project.id = key.to_lowercase();
        project.key = key.to_owned();
        project.name = key.to_owned();
        state.keys.insert(key.to_owned(), project.id.clone());
        state.members.insert(
            (project.id.clone(), admin.to_owned()),
            Membership {
                project_id: project.id.clone(),
                member_sub: admin.to_owned(),
                role: Role::Admin,
                display_name: None,
                added_at: chrono::Utc::now(),
                added_by: None,
            },
        );
        state.projects.insert(project.id.clone(), project);
    }

    /// Moves an invitation's date into the past, as time would.
    pub fn expire_invitation(&self, project_id: &str, invitation_id: &str) {
        if let Some(invitation) = self
            .lock_any()
            .invitations
            .get_mut(&(project_id.to_owned(), invitation_id.to_owned()))
        {
            invitation.expires_at = chrono::Utc::now() - chrono::Duration::seconds(1);
        }
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock_any().unavailable = unavailable;
    }

    /// Links a repository to a project (or unlinks it), as a test needs it.
    pub fn link_repository(&self, project_id: &str, link: Option<crate::project::RepositoryLink>) {
        if let Some(project) = self.lock_any().projects.get_mut(project_id) {
            project.repository = link;
        }
    }

    /// Links further repositories to a project, as a test needs it.
    pub fn link_other_repositories(
        &self,
        project_id: &str,
        links: Vec<crate::project::RepositoryLink>,
    ) {
        if let Some(project) = self.lock_any().projects.get_mut(project_id) {
            project.other_repositories = links;
        }
    }

    /// The project as stored now.
    pub fn project(&self, project_id: &str) -> Option<Project> {
        self.lock_any().projects.get(project_id).cloned()
    }

    /// Archives or restores a project, as a test needs it.
    pub fn set_archived(&self, project_id: &str, archived: bool) {
        if let Some(project) = self.lock_any().projects.get_mut(project_id) {
            project.archived = archived;
        }
    }

    /// The membership changes' history entries, oldest first.
    pub fn history(&self) -> Vec<crate::history::HistoryEntry> {
        self.lock_any().history.clone()
    }

    /// Everything the audit log holds, oldest first.
    pub fn audit_log(&self) -> Vec<AuditEntry> {
        self.lock_any().audit.clone()
    }

    fn lock_any(&self) -> MutexGuard<'_, ProjectsState> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn lock(&self) -> Result<MutexGuard<'_, ProjectsState>> {
        let state = self.lock_any();
        if state.unavailable {
            return Err(Error::DependencyUnavailable {
                dependency: "projects table",
                message: "the in-memory store is set unavailable".into(),
            });
        }
        Ok(state)
    }
}

impl ProjectDirectory for MemoryProjects {
    async fn project_id_for_key(&self, key: &str) -> Result<Option<String>> {
        Ok(self.lock()?.keys.get(key).cloned())
    }

    async fn access(
        &self,
        project_id: &str,
        member_sub: &str,
    ) -> Result<(Option<Project>, Option<Membership>)> {
        let state = self.lock()?;
        Ok((
            state.projects.get(project_id).cloned(),
            state
                .members
                .get(&(project_id.to_owned(), member_sub.to_owned()))
                .cloned(),
        ))
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        self.lock()?.audit.push(entry.clone());
        Ok(())
    }

    async fn allocate_ordinal(&self) -> Result<u32> {
        let mut state = self.lock()?;
        state.last_ordinal += 1;
        Ok(state.last_ordinal)
    }

    async fn create_project(
        &self,
        project: &Project,
        admin: &Membership,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let mut state = self.lock()?;
        if state.keys.contains_key(&project.key) || state.projects.contains_key(&project.id) {
            return Ok(false);
        }
        state.keys.insert(project.key.clone(), project.id.clone());
        state.projects.insert(project.id.clone(), project.clone());
        state.members.insert(
            (project.id.clone(), admin.member_sub.clone()),
            admin.clone(),
        );
        state.audit.push(audit.clone());
        Ok(true)
    }

    async fn update_project(
        &self,
        project: &Project,
        expected_version: u64,
        new_key: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<ProjectUpdateOutcome> {
        let mut state = self.lock()?;
        match state.projects.get(&project.id) {
            Some(current) if current.version == expected_version => {}
            _ => return Ok(ProjectUpdateOutcome::Conflict),
        }
        if let Some(new_key) = new_key {
            if state.keys.contains_key(new_key) {
                return Ok(ProjectUpdateOutcome::KeyTaken);
            }
            state.keys.insert(new_key.to_owned(), project.id.clone());
        }
        state.projects.insert(project.id.clone(), project.clone());
        state.audit.push(audit.clone());
        Ok(ProjectUpdateOutcome::Updated)
    }

    async fn put_invitation(
        &self,
        invitation: &Invitation,
        audit: &AuditEntry,
        resend: bool,
    ) -> Result<bool> {
        let mut state = self.lock()?;
        let key = (
            invitation.project_id.clone(),
            invitation.invitation_id.clone(),
        );
        let pending = state
            .invitations
            .get(&key)
            .map(|current| current.status == InvitationStatus::Pending);
        if (resend && pending != Some(true)) || (!resend && pending.is_some()) {
            return Ok(false);
        }
        state.invitations.insert(key, invitation.clone());
        state.audit.push(audit.clone());
        Ok(true)
    }

    async fn invitation(
        &self,
        project_id: &str,
        invitation_id: &str,
    ) -> Result<Option<Invitation>> {
        Ok(self
            .lock()?
            .invitations
            .get(&(project_id.to_owned(), invitation_id.to_owned()))
            .cloned())
    }

    async fn invitations(&self, project_id: &str) -> Result<Vec<Invitation>> {
        let mut found: Vec<Invitation> = self
            .lock()?
            .invitations
            .values()
            .filter(|invitation| invitation.project_id == project_id)
            .cloned()
            .collect();
        found.sort_by_key(|invitation| std::cmp::Reverse(invitation.invited_at));
        Ok(found)
    }

    async fn revoke_invitation(
        &self,
        project_id: &str,
        invitation_id: &str,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let mut state = self.lock()?;
        let key = (project_id.to_owned(), invitation_id.to_owned());
        match state.invitations.get_mut(&key) {
            Some(invitation) if invitation.status == InvitationStatus::Pending => {
                invitation.status = InvitationStatus::Revoked;
                state.audit.push(audit.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn accept_invitation(
        &self,
        accepted: &Invitation,
        change: Option<&MemberChange>,
        audit: &AuditEntry,
        entry: Option<&crate::history::HistoryEntry>,
    ) -> Result<AcceptOutcome> {
        {
            let state = self.lock()?;
            let key = (accepted.project_id.clone(), accepted.invitation_id.clone());
            let holds = state.invitations.get(&key).is_some_and(|current| {
                current.status == InvitationStatus::Pending
                    && current.secret_hash == accepted.secret_hash
            });
            if !holds {
                return Ok(AcceptOutcome::InvitationGone);
            }
            if let Some(change) = change
                && state
                    .members
                    .get(&(change.project_id.clone(), change.member_sub.clone()))
                    != change.current.as_ref()
            {
                return Ok(AcceptOutcome::Conflict);
            }
        }
        if let (Some(change), Some(entry)) = (change, entry) {
            match self.change_member(change, audit, entry).await? {
                MemberChangeOutcome::Done => {}
                MemberChangeOutcome::ProjectMissing => return Ok(AcceptOutcome::ProjectMissing),
                _ => return Ok(AcceptOutcome::Conflict),
            }
        } else {
            self.lock()?.audit.push(audit.clone());
        }
        let mut state = self.lock()?;
        let key = (accepted.project_id.clone(), accepted.invitation_id.clone());
        state.invitations.insert(key, accepted.clone());
        Ok(AcceptOutcome::Accepted)
    }

    async fn memberships_of(&self, member_sub: &str) -> Result<Vec<Membership>> {
        Ok(self
            .lock()?
            .members
            .values()
            .filter(|membership| membership.member_sub == member_sub)
            .cloned()
            .collect())
    }

    async fn projects(&self, project_ids: &[String]) -> Result<Vec<Project>> {
        let state = self.lock()?;
        Ok(project_ids
            .iter()
            .filter_map(|id| state.projects.get(id).cloned())
            .collect())
    }

    async fn projects_linking_owner(&self, owner: &str) -> Result<Vec<Project>> {
        let state = self.lock()?;
        Ok(state
            .projects
            .values()
            .filter(|project| {
                project
                    .repository
                    .as_ref()
                    .is_some_and(|link| link.owner.eq_ignore_ascii_case(owner))
            })
            .cloned()
            .collect())
    }

    async fn members(&self, project_id: &str) -> Result<Vec<Membership>> {
        Ok(self
            .lock()?
            .members
            .values()
            .filter(|membership| membership.project_id == project_id)
            .cloned()
            .collect())
    }

    async fn change_member(
        &self,
        change: &MemberChange,
        audit: &AuditEntry,
        entry: &crate::history::HistoryEntry,
    ) -> Result<MemberChangeOutcome> {
        let mut state = self.lock()?;
        let key = (change.project_id.clone(), change.member_sub.clone());
        if state.members.get(&key) != change.current.as_ref() {
            return Ok(MemberChangeOutcome::Conflict);
        }
        let was_admin = change
            .current
            .as_ref()
            .is_some_and(|member| member.role == Role::Admin);
        let is_admin = change
            .next
            .as_ref()
            .is_some_and(|member| member.role == Role::Admin);
        let Some(project) = state.projects.get_mut(&change.project_id) else {
            return Ok(MemberChangeOutcome::ProjectMissing);
        };
        match (was_admin, is_admin) {
            (true, false) if project.admin_count <= 1 => return Ok(MemberChangeOutcome::LastAdmin),
            (true, false) => project.admin_count -= 1,
            (false, true) => project.admin_count += 1,
            _ => {}
        }
        project.version += 1;
        match &change.next {
            Some(next) => state.members.insert(key, next.clone()),
            None => state.members.remove(&key),
        };
        state.audit.push(audit.clone());
        state.history.push(entry.clone());
        Ok(MemberChangeOutcome::Done)
    }
}

/// A gate over [`MemoryProjects::with_default_project`] with the local stack's people:
/// `local-admin` (the default when a request names nobody), one member per other role,
/// `local-outsider` (a member of nothing) and `local-operator` (a deployment admin).
pub fn local_gate() -> crate::authz::gate::Gate<MemoryProjects> {
    local_gate_over(MemoryProjects::with_default_project())
}

/// [`local_gate`] over a given store, for tests that look into it.
pub fn local_gate_over(projects: MemoryProjects) -> crate::authz::gate::Gate<MemoryProjects> {
    use crate::authz::identity::{IdentityMode, LocalPerson};
    let person = |sub: &str, deployment_admin: bool| LocalPerson {
        sub: sub.to_owned(),
        name: sub.to_owned(),
        deployment_admin,
        email: Some(format!("{sub}@example.test")),
    };
    let people = vec![
        person("local-admin", false),
        person("local-maintainer", false),
        person("local-contributor", false),
        person("local-viewer", false),
        person("local-outsider", false),
        person("local-operator", true),
    ];
    crate::authz::gate::Gate::new(projects, IdentityMode::LocalPeople(people))
}

/// The gate of a consumer of records (the webhook) over a given store.
pub fn records_gate_over(projects: MemoryProjects) -> crate::authz::gate::Gate<MemoryProjects> {
    crate::authz::gate::Gate::new(projects, crate::authz::identity::IdentityMode::Records)
}

/// A gate of a signed-in stage (JWT) over the default project, with these extra members.
pub fn jwt_gate(members: &[(&str, Role)]) -> crate::authz::gate::Gate<MemoryProjects> {
    let projects = MemoryProjects::with_default_project();
    for (sub, role) in members {
        projects.add_to_default_project(sub, *role);
    }
    crate::authz::gate::Gate::new(
        projects,
        crate::authz::identity::IdentityMode::Jwt {
            admin_group: "aipm-admins".to_owned(),
        },
    )
}
