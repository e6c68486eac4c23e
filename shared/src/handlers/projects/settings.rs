//! PATCH /projects/{key}: a project's settings. Its name, key (the old one stays reserved and
//! keeps resolving) and code repository need `editSettings` (maintainers); archiving and
//! restoring need `archiveProject` (admins). Only what is sent changes.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

use super::{ProjectView, RepositoryBody, project_key, repository_link};
use crate::authz::Action;
use crate::authz::gate::{Access, Gate, ProjectRef};
use crate::error::FieldError;
use crate::error::{Error, Result};
use crate::http::{Operation, json_response, parse_json_body};
use crate::ports::{ProjectDirectory, ProjectUpdateOutcome, RepositoryReach, WithoutApp};
use crate::project::{
    AuditEntry, MAX_LINKED_REPOSITORIES, Project, RepositoryLink, validate_key, validate_name,
};

/// How often a change is re-read and re-tried when someone changed the project meanwhile.
const UPDATE_ATTEMPTS: usize = 3;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ProjectChanges {
    name: Option<String>,
    key: Option<String>,
    archived: Option<bool>,
    done_needs_ci_evidence: Option<bool>,
    /// Replaces the board's work-in-progress limits: status → most stories (0 removes one).
    wip_limits: Option<std::collections::BTreeMap<String, u32>>,
    /// The default target; `null` unlinks it (the first of the others then takes its place).
    #[serde(default, with = "serde_with_null")]
    repository: Option<Option<RepositoryBody>>,
    /// Replaces the project's further repositories.
    other_repositories: Option<Vec<RepositoryBody>>,
}

impl ProjectChanges {
    fn touches_repositories(&self) -> bool {
        self.repository.is_some() || self.other_repositories.is_some()
    }
}

/// `absent` → None, `null` → Some(None), a value → Some(Some(value)).
mod serde_with_null {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// The project as it will be, and what the change says in the audit log.
fn apply(current: &Project, changes: &ProjectChanges) -> Result<(Project, Vec<String>)> {
    let mut next = current.clone();
    let mut said = Vec::new();
    let mut problems = Vec::new();
    if let Some(name) = &changes.name {
        match validate_name(name) {
            Ok(name) if name != current.name => {
                said.push(format!("name {} -> {name}", current.name));
                next.name = name;
            }
            Ok(_) => {}
            Err(problem) => problems.push(problem),
        }
    }
    if let Some(key) = &changes.key {
        match validate_key(key) {
            Ok(()) if *key != current.key => {
                said.push(format!("key {} -> {key}", current.key));
                next.key = key.clone();
            }
            Ok(()) => {}
            Err(problem) => problems.push(problem),
        }
    }
    if changes.touches_repositories() {
        match linked_as_changed(current, changes) {
            Ok((repository, others)) => {
                if repository != current.repository || others != current.other_repositories {
                    said.push("repositories changed".to_owned());
                    next.repository = repository;
                    next.other_repositories = others;
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    if let Some(needed) = changes.done_needs_ci_evidence
        && needed != current.done_needs_ci_evidence
    {
        said.push(
            if needed {
                "Done needs CI evidence"
            } else {
                "Done no longer needs CI evidence"
            }
            .to_owned(),
        );
        next.done_needs_ci_evidence = needed;
    }
    if let Some(limits) = &changes.wip_limits {
        match wip_limits(limits) {
            Ok(limits) if limits != current.wip_limits => {
                said.push("work-in-progress limits changed".to_owned());
                next.wip_limits = limits;
            }
            Ok(_) => {}
            Err(problem) => problems.push(problem),
        }
    }
    if let Some(archived) = changes.archived
        && archived != current.archived
    {
        said.push(if archived { "archived" } else { "restored" }.to_owned());
        next.archived = archived;
    }
    if !problems.is_empty() {
        return Err(Error::Validation(problems));
    }
    Ok((next, said))
}

/// The most a column's limit may be; a board with more open work than this has no limit.
const MAX_WIP_LIMIT: u32 = 999;

/// The limits kept: every status but Done may have one, 1 to [`MAX_WIP_LIMIT`]; 0 removes it.
fn wip_limits(
    sent: &std::collections::BTreeMap<String, u32>,
) -> std::result::Result<std::collections::BTreeMap<String, u32>, FieldError> {
    let mut kept = std::collections::BTreeMap::new();
    for (status, limit) in sent {
        let known = crate::model::StoryStatus::parse(status)
            .filter(|status| *status != crate::model::StoryStatus::Done);
        if known.is_none() || *limit > MAX_WIP_LIMIT {
            return Err(FieldError::new(
                "wipLimits",
                "INVALID",
                format!(
                    "a limit is a whole number from 1 to {MAX_WIP_LIMIT} (0 removes it) for Draft, Ready, In Progress or Blocked"
                ),
            ));
        }
        if *limit > 0 {
            kept.insert(status.clone(), *limit);
        }
    }
    Ok(kept)
}

/// The default target and the other repositories as `changes` leave them: what is not sent
/// stays; a link unlinked as the default hands that role to the first other one. At most
/// [`MAX_LINKED_REPOSITORIES`], each once, all under one GitHub account.
fn linked_as_changed(
    current: &Project,
    changes: &ProjectChanges,
) -> Result<(Option<RepositoryLink>, Vec<RepositoryLink>), FieldError> {
    let link = |body: &RepositoryBody| {
        repository_link(body.clone()).map(|link| keeping_what_github_said(link, current))
    };
    let mut repository = match &changes.repository {
        None => current.repository.clone(),
        Some(None) => None,
        Some(Some(body)) => Some(link(body)?),
    };
    let mut others = match &changes.other_repositories {
        None => current.other_repositories.clone(),
        Some(bodies) => bodies.iter().map(link).collect::<Result<_, _>>()?,
    };
    if repository.is_none() && !others.is_empty() {
        repository = Some(others.remove(0));
    }
    let all: Vec<&RepositoryLink> = repository.iter().chain(&others).collect();
    if all.len() > MAX_LINKED_REPOSITORIES {
        return Err(FieldError::new(
            "otherRepositories",
            "TOO_MANY",
            format!("a project links at most {MAX_LINKED_REPOSITORIES} repositories"),
        ));
    }
    for (index, link) in all.iter().enumerate() {
        let full_name = link.full_name();
        if all[..index]
            .iter()
            .any(|earlier| earlier.full_name().eq_ignore_ascii_case(&full_name))
        {
            return Err(FieldError::new(
                "otherRepositories",
                "DUPLICATE_REPOSITORY",
                format!("{full_name} is linked twice"),
            ));
        }
        if let Some(first) = all.first()
            && !first.owner.eq_ignore_ascii_case(&link.owner)
        {
            return Err(FieldError::new(
                "otherRepositories",
                "OTHER_ACCOUNT",
                format!(
                    "{full_name} belongs to another GitHub account than {}; a project's repositories all belong to one account",
                    first.full_name()
                ),
            ));
        }
    }
    Ok((repository, others))
}

pub struct UpdateProject<G, R = WithoutApp> {
    gate: Gate<G>,
    /// With the GitHub App: asked whether it reaches a repository being linked.
    app: Option<R>,
}

impl<G> UpdateProject<G> {
    pub fn new(gate: Gate<G>) -> Self {
        Self { gate, app: None }
    }
}

impl<G, R> UpdateProject<G, R> {
    /// The same, linking only repositories the GitHub App reaches (`None`: no App).
    pub fn reaching<A>(self, app: Option<A>) -> UpdateProject<G, A> {
        UpdateProject {
            gate: self.gate,
            app,
        }
    }
}

impl<G: ProjectDirectory, R> UpdateProject<G, R> {
    /// The permissions the change needs: settings for name, key and repository, archiving for
    /// archiving or restoring.
    async fn require(&self, access: &Access, changes: &ProjectChanges, target: &str) -> Result<()> {
        if changes.archived.is_some() {
            self.gate
                .require(access, Action::ArchiveProject, false, target)
                .await?;
        }
        let settings = changes.name.is_some()
            || changes.key.is_some()
            || changes.done_needs_ci_evidence.is_some()
            || changes.wip_limits.is_some()
            || changes.touches_repositories();
        if settings || changes.archived.is_none() {
            self.gate
                .require(access, Action::EditSettings, false, target)
                .await?;
        }
        Ok(())
    }
}

impl<G: ProjectDirectory, R: RepositoryReach> Operation for UpdateProject<G, R> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let mut access = self.gate.enter(&request, ProjectRef::Key(&key)).await?;
        let changes: ProjectChanges = parse_json_body(&request)?;
        // Restoring an archived project and renaming it are two steps: the policy keeps an
        // archived project read-only for everything but archiving.
        self.require(&access, &changes, request.uri().path())
            .await?;
        for _ in 0..UPDATE_ATTEMPTS {
            let current = access.project.clone();
            let (mut next, mut said) = apply(&current, &changes)?;
            if let Some(app) = &self.app
                && changes.touches_repositories()
            {
                next = reached_by_app(app, next).await?;
                let reached = next.linked_repositories().ne(current.linked_repositories());
                if reached && said.is_empty() {
                    said.push("repositories reached by the GitHub App".to_owned());
                }
            }
            if said.is_empty() {
                return Ok(json_response(StatusCode::OK, &ProjectView::from(&current)));
            }
            next.version = current.version + 1;
            next.updated_at = Utc::now();
            let new_key = (next.key != current.key).then(|| next.key.clone());
            let action = if changes.archived.is_some() && changes.name.is_none() {
                Action::ArchiveProject
            } else {
                Action::EditSettings
            };
            let audit = AuditEntry {
                project_id: current.id.clone(),
                at: next.updated_at,
                actor: access.caller.sub.clone(),
                actor_name: access.caller.name.clone(),
                action: action.as_str().to_owned(),
                decision: "allow".to_owned(),
                policy: access.decide(action, false).policy.to_owned(),
                standing: access.standing.as_str().to_owned(),
                target: Some(current.id.clone()),
                change: Some(said.join("; ")),
            };
            match self
                .gate
                .projects()
                .update_project(&next, current.version, new_key.as_deref(), &audit)
                .await?
            {
                ProjectUpdateOutcome::Updated => {
                    tracing::info!(project = %next.id, change = %said.join("; "), "project changed");
                    return Ok(json_response(
                        StatusCode::OK,
                        &json!(ProjectView::from(&next)),
                    ));
                }
                ProjectUpdateOutcome::KeyTaken => {
                    return Err(Error::ProjectKeyTaken { key: next.key });
                }
                ProjectUpdateOutcome::Conflict => {
                    access = self.gate.enter(&request, ProjectRef::Key(&key)).await?;
                }
            }
        }
        Err(Error::ConcurrentUpdate)
    }
}

/// Every link of `project` as the GitHub App reaches it (with its ids, connected), or 409
/// `REPOSITORY_DISCONNECTED` for the first it does not reach.
async fn reached_by_app<R: RepositoryReach>(app: &R, mut project: Project) -> Result<Project> {
    if let Some(link) = project.repository.take() {
        project.repository = Some(super::reached_by(app, link).await?);
    }
    let mut reached = Vec::with_capacity(project.other_repositories.len());
    for link in std::mem::take(&mut project.other_repositories) {
        reached.push(super::reached_by(app, link).await?);
    }
    project.other_repositories = reached;
    Ok(project)
}

/// A repository the project links already (another base branch, say, or made the default)
/// keeps what GitHub told about it: its ids and whether the App reaches it. Without the App
/// nobody asks GitHub, so saving the settings does not reconnect it; with the App, GitHub's
/// answer then replaces both.
fn keeping_what_github_said(link: RepositoryLink, current: &Project) -> RepositoryLink {
    match current.linked_repository(&link.full_name()) {
        Some(known) => RepositoryLink {
            installation_id: known.installation_id,
            repository_id: known.repository_id,
            disconnected: known.disconnected,
            ..link
        },
        None => link,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use crate::handlers::test_support::{error_code, json, request};
    use crate::http::respond;
    use lambda_http::RequestExt;
    use lambda_http::http::Method;

    async fn patch(
        projects: &MemoryProjects,
        person: &str,
        key: &str,
        body: &str,
    ) -> Response<Body> {
        let mut request = request(Method::PATCH, "/projects/x", body).with_path_parameters(
            std::collections::HashMap::from([("key".to_owned(), key.to_owned())]),
        );
        request.headers_mut().insert(
            crate::authz::identity::LOCAL_PERSON_HEADER,
            person.parse().unwrap(),
        );
        respond(
            &UpdateProject::new(local_gate_over(projects.clone())),
            request,
        )
        .await
    }

    #[tokio::test]
    async fn work_in_progress_limits_are_kept_per_status_and_refused_for_done() {
        let projects = MemoryProjects::with_default_project();
        let set = patch(
            &projects,
            "local-maintainer",
            "AIPM",
            r#"{"wipLimits":{"In Progress":3,"Ready":0}}"#,
        )
        .await;
        assert_eq!(set.status(), 200, "{}", json(&set));
        assert_eq!(
            json(&set)["wipLimits"],
            serde_json::json!({"In Progress": 3})
        );
        for refused in [
            r#"{"wipLimits":{"Done":2}}"#,
            r#"{"wipLimits":{"Doing":2}}"#,
            r#"{"wipLimits":{"Ready":1000}}"#,
        ] {
            let answer = patch(&projects, "local-maintainer", "AIPM", refused).await;
            assert_eq!(answer.status(), 400, "{refused}");
            assert_eq!(error_code(&answer), "VALIDATION_FAILED");
        }
        let by_contributor = patch(
            &projects,
            "local-contributor",
            "AIPM",
            r#"{"wipLimits":{"Ready":2}}"#,
        )
        .await;
        assert_eq!(by_contributor.status(), 403);
        let cleared = patch(&projects, "local-maintainer", "AIPM", r#"{"wipLimits":{}}"#).await;
        assert!(json(&cleared).get("wipLimits").is_none());
    }

    #[tokio::test]
    async fn a_renamed_key_keeps_resolving_and_is_never_reused() {
        let projects = MemoryProjects::with_default_project();
        let renamed = patch(
            &projects,
            "local-maintainer",
            "AIPM",
            r#"{"key":"CORE","name":"Core"}"#,
        )
        .await;
        assert_eq!(renamed.status(), 200);
        assert_eq!(json(&renamed)["key"], "CORE");
        assert_eq!(json(&renamed)["version"], 2);
        // The old key still names the project.
        let by_old = patch(
            &projects,
            "local-maintainer",
            "AIPM",
            r#"{"name":"Core platform"}"#,
        )
        .await;
        assert_eq!(json(&by_old)["name"], "Core platform");
        // Going back to the old key is taking a reserved key.
        let back = patch(&projects, "local-maintainer", "CORE", r#"{"key":"AIPM"}"#).await;
        assert_eq!(back.status(), 409);
        assert_eq!(error_code(&back), "PROJECT_KEY_TAKEN");
        let log = projects.audit_log();
        assert!(log.iter().any(|entry| entry.change.as_deref() == Some("name AIPM -> Core; key AIPM -> CORE")), "{log:?}");
    }

    #[tokio::test]
    async fn archiving_is_for_admins_and_makes_the_project_read_only() {
        let projects = MemoryProjects::with_default_project();
        let refused = patch(
            &projects,
            "local-maintainer",
            "AIPM",
            r#"{"archived":true}"#,
        )
        .await;
        assert_eq!(refused.status(), 403);
        assert_eq!(
            json(&refused)["error"]["details"]["permission"],
            "archiveProject"
        );
        let contributor = patch(&projects, "local-contributor", "AIPM", r#"{"name":"X"}"#).await;
        assert_eq!(
            json(&contributor)["error"]["details"]["permission"],
            "editSettings"
        );
        assert_eq!(
            patch(&projects, "local-admin", "AIPM", r#"{"archived":true}"#)
                .await
                .status(),
            200
        );
        let rename = patch(&projects, "local-admin", "AIPM", r#"{"name":"Renamed"}"#).await;
        assert_eq!(
            json(&rename)["error"]["details"]["policy"],
            "archived-read-only"
        );
        let restored = patch(&projects, "local-admin", "AIPM", r#"{"archived":false}"#).await;
        assert_eq!(json(&restored)["archived"], false);
    }

    #[tokio::test]
    async fn bad_settings_are_a_clear_400_and_nothing_changes() {
        let projects = MemoryProjects::with_default_project();
        let bad = patch(
            &projects,
            "local-admin",
            "AIPM",
            r#"{"key":"lower","name":"","repository":{"owner":"../x","name":"y"}}"#,
        )
        .await;
        assert_eq!(bad.status(), 400);
        assert_eq!(
            json(&bad)["error"]["details"]["fields"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        let unknown = patch(&projects, "local-admin", "AIPM", r#"{"owner":"me"}"#).await;
        assert_eq!(unknown.status(), 400);
        let linked = patch(
            &projects,
            "local-admin",
            "AIPM",
            r#"{"repository":{"owner":"acme","name":"shop","baseBranch":"trunk"}}"#,
        )
        .await;
        assert_eq!(json(&linked)["repository"]["baseBranch"], "trunk");
        let unlinked = patch(&projects, "local-admin", "AIPM", r#"{"repository":null}"#).await;
        assert!(json(&unlinked).get("repository").is_none());
    }

    #[tokio::test]
    async fn a_project_links_several_repositories_of_one_account_with_one_default() {
        let projects = MemoryProjects::with_default_project();
        let linked = patch(
            &projects,
            "local-maintainer",
            "AIPM",
            r#"{"repository":{"owner":"acme","name":"shop"},
                "otherRepositories":[{"owner":"acme","name":"api","baseBranch":"trunk"}]}"#,
        )
        .await;
        assert_eq!(linked.status(), 200);
        assert_eq!(json(&linked)["repository"]["name"], "shop");
        assert_eq!(json(&linked)["otherRepositories"][0]["baseBranch"], "trunk");

        // Making api the default is sending the two the other way round.
        let swapped = patch(
            &projects,
            "local-maintainer",
            "AIPM",
            r#"{"repository":{"owner":"acme","name":"api","baseBranch":"trunk"},
                "otherRepositories":[{"owner":"acme","name":"shop"}]}"#,
        )
        .await;
        assert_eq!(json(&swapped)["repository"]["name"], "api");
        assert_eq!(json(&swapped)["otherRepositories"][0]["name"], "shop");

        for (body, code) in [
            (
                r#"{"otherRepositories":[{"owner":"ACME","name":"API"}]}"#,
                "DUPLICATE_REPOSITORY",
            ),
            (
                r#"{"otherRepositories":[{"owner":"elsewhere","name":"lib"}]}"#,
                "OTHER_ACCOUNT",
            ),
        ] {
            let refused = patch(&projects, "local-maintainer", "AIPM", body).await;
            assert_eq!(refused.status(), 400, "{body}");
            assert_eq!(
                json(&refused)["error"]["details"]["fields"][0]["code"],
                code,
                "{body}"
            );
        }
        let eleven: Vec<String> = (0..10)
            .map(|n| format!(r#"{{"owner":"acme","name":"r{n}"}}"#))
            .collect();
        let too_many = patch(
            &projects,
            "local-maintainer",
            "AIPM",
            &format!(r#"{{"otherRepositories":[{}]}}"#, eleven.join(",")),
        )
        .await;
        assert_eq!(
            json(&too_many)["error"]["details"]["fields"][0]["code"],
            "TOO_MANY"
        );
        assert_eq!(
            projects.project("default").map(|project| project.version),
            Some(3),
            "the refused changes stored nothing"
        );

        // Unlinking the default hands its role to the first other repository.
        let unlinked = patch(
            &projects,
            "local-maintainer",
            "AIPM",
            r#"{"repository":null}"#,
        )
        .await;
        assert_eq!(json(&unlinked)["repository"]["name"], "shop");
        assert!(json(&unlinked).get("otherRepositories").is_none());

        // A contributor may not change what a project links.
        let contributor = patch(
            &projects,
            "local-contributor",
            "AIPM",
            r#"{"otherRepositories":[]}"#,
        )
        .await;
        assert_eq!(contributor.status(), 403);
    }

    #[tokio::test]
    async fn saving_the_same_repository_keeps_its_ids_and_does_not_reconnect_it() {
        let projects = MemoryProjects::with_default_project();
        projects.link_repository(
            "default",
            Some(crate::project::RepositoryLink {
                installation_id: Some(77),
                repository_id: Some(9),
                disconnected: true,
                ..crate::project::RepositoryLink::new("acme", "shop", "main")
            }),
        );
        let saved = patch(
            &projects,
            "local-admin",
            "AIPM",
            r#"{"repository":{"owner":"ACME","name":"shop","baseBranch":"trunk"}}"#,
        )
        .await;
        let link = &json(&saved)["repository"];
        assert_eq!(
            (
                link["baseBranch"].clone(),
                link["repositoryId"].clone(),
                link["disconnected"].clone()
            ),
            (json!("trunk"), json!(9), json!(true))
        );
        let other = patch(
            &projects,
            "local-admin",
            "AIPM",
            r#"{"repository":{"owner":"acme","name":"app"}}"#,
        )
        .await;
        let link = &json(&other)["repository"];
        assert!(link.get("repositoryId").is_none() && link.get("disconnected").is_none());
    }
}
