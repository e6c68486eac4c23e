//! GitHub's events about repositories keep the projects' links current. `installation`
//! (deleted, suspended, unsuspended, created) and `installation_repositories` (added, removed)
//! mark a link disconnected when the App loses its repository and connected when it is back,
//! recording the installation and repository ids GitHub names. `repository` (renamed,
//! transferred) gives a link its new owner and name. Each change is audited.

use chrono::Utc;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ports::{ProjectDirectory, ProjectUpdateOutcome};
use crate::project::{AuditEntry, Project, RepositoryLink};

/// How often a project changed meanwhile is read again before the event gives up (503, and
/// GitHub's redelivery tries again).
const ATTEMPTS: usize = 3;

#[derive(Debug, Deserialize)]
pub struct InstallationEvent {
    pub action: String,
    pub installation: Installation,
    /// `installation` created: the repositories it covers.
    #[serde(default)]
    pub repositories: Vec<InstalledRepository>,
    #[serde(default)]
    pub repositories_added: Vec<InstalledRepository>,
    #[serde(default)]
    pub repositories_removed: Vec<InstalledRepository>,
}

#[derive(Debug, Deserialize)]
pub struct Installation {
    pub id: u64,
    pub account: Account,
}

#[derive(Debug, Deserialize)]
pub struct Account {
    pub login: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstalledRepository {
    pub id: u64,
    pub full_name: String,
}

/// What an event does to the links under its account.
#[derive(Debug, PartialEq)]
enum Change<'a> {
    /// Every link of the account: the installation went away, was suspended, or came back.
    Account { connected: bool },
    /// These repositories came (back) into reach, these went out of it.
    Repositories {
        connect: &'a [InstalledRepository],
        disconnect: &'a [InstalledRepository],
    },
}

impl PartialEq for InstalledRepository {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// The webhook's answer to an event about repositories (`installation`,
/// `installation_repositories`, `repository`): 200 with how many links changed, or 204 when
/// none did. None: not such an event.
pub async fn answer<G: ProjectDirectory>(
    directory: &G,
    event: &str,
    body: &[u8],
    only_project: Option<&str>,
) -> Result<Option<lambda_http::Response<lambda_http::Body>>> {
    fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T> {
        serde_json::from_slice(body).map_err(|error| Error::InvalidJson(error.to_string()))
    }
    let changed = match event {
        "installation" | "installation_repositories" => {
            apply(directory, event, &parse(body)?, only_project).await?
        }
        "repository" => follow_move(directory, &parse(body)?, only_project).await?,
        _ => return Ok(None),
    };
    Ok(Some(match changed {
        Some(links) if links > 0 => crate::http::json_response(
            lambda_http::http::StatusCode::OK,
            &serde_json::json!({"result": "links updated", "links": links}),
        ),
        _ => super::ignored("no project's link changed"),
    }))
}

/// The events the App subscribes to beyond [`super::payload::EVENTS`] (installation events
/// reach every App without asking): renames and transfers, so links follow them.
pub const APP_EVENTS: [&str; 1] = ["repository"];

fn change_of<'a>(event: &str, payload: &'a InstallationEvent) -> Option<Change<'a>> {
    match (event, payload.action.as_str()) {
        ("installation", "deleted" | "suspend") => Some(Change::Account { connected: false }),
        ("installation", "unsuspend") => Some(Change::Account { connected: true }),
        ("installation", "created" | "new_permissions_accepted") => Some(Change::Repositories {
            connect: &payload.repositories,
            disconnect: &[],
        }),
        ("installation_repositories", "added" | "removed") => Some(Change::Repositories {
            connect: &payload.repositories_added,
            disconnect: &payload.repositories_removed,
        }),
        _ => None,
    }
}

/// Whether `repository` is the one `link` names: by GitHub's id when the link has it (it
/// survives renames), else by name.
fn names(link: &RepositoryLink, repository: &InstalledRepository) -> bool {
    match link.repository_id {
        Some(id) => id == repository.id,
        None => link.full_name().eq_ignore_ascii_case(&repository.full_name),
    }
}

/// The link as the event leaves it, or None when the event does not touch it.
fn next_link(
    link: &RepositoryLink,
    installation: u64,
    change: &Change<'_>,
) -> Option<RepositoryLink> {
    let (connected, repository_id) = match change {
        Change::Account { connected } => (*connected, link.repository_id),
        Change::Repositories {
            connect,
            disconnect,
        } => {
            if let Some(found) = disconnect.iter().find(|r| names(link, r)) {
                (false, Some(found.id))
            } else {
                let found = connect.iter().find(|r| names(link, r))?;
                (true, Some(found.id))
            }
        }
    };
    let next = RepositoryLink {
        disconnected: !connected,
        installation_id: Some(installation),
        repository_id,
        ..link.clone()
    };
    (next != *link).then_some(next)
}

/// The audit entry of links GitHub changed, before it says which and how.
fn audit(project: &Project, policy: String) -> AuditEntry {
    AuditEntry {
        project_id: project.id.clone(),
        at: Utc::now(),
        actor: "github-app".to_owned(),
        actor_name: Some("GitHub App installation".to_owned()),
        action: "editSettings".to_owned(),
        decision: "allow".to_owned(),
        policy,
        standing: "code-host".to_owned(),
        target: None,
        change: None,
    }
}

fn reach_said(link: &RepositoryLink) -> String {
    if link.disconnected {
        "disconnected: the GitHub App cannot reach it".to_owned()
    } else {
        "connected: the GitHub App reaches it".to_owned()
    }
}

/// Applies the event to every project under its account (only `only_project` when the delivery
/// came to a project's own route); returns how many links changed. None: not an event that
/// changes links.
pub async fn apply<G: ProjectDirectory>(
    directory: &G,
    event: &str,
    payload: &InstallationEvent,
    only_project: Option<&str>,
) -> Result<Option<usize>> {
    let Some(change) = change_of(event, payload) else {
        return Ok(None);
    };
    let installation = payload.installation.id;
    let policy = format!("github:{event}.{}", payload.action);
    let mut changed = 0;
    for project in directory
        .projects_linking_owner(&payload.installation.account.login)
        .await?
    {
        if only_project.is_some_and(|only| only != project.id) {
            continue;
        }
        let next = |link: &RepositoryLink| {
            next_link(link, installation, &change).map(|next| {
                let said = reach_said(&next);
                (next, said)
            })
        };
        if update(directory, project, &policy, next).await? {
            changed += 1;
        }
    }
    Ok(Some(changed))
}

/// GitHub's `repository` event, as far as a rename or a transfer goes.
#[derive(Debug, Deserialize)]
pub struct RepositoryEvent {
    pub action: String,
    pub repository: MovedRepository,
    #[serde(default)]
    pub changes: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct MovedRepository {
    pub id: u64,
    pub name: String,
    pub owner: Account,
}

/// A repository renamed or transferred: every link that names it by GitHub's id takes its new
/// owner and name (they are only for display and for the API's paths; the id is what links).
/// None: not a rename or a transfer.
pub async fn follow_move<G: ProjectDirectory>(
    directory: &G,
    payload: &RepositoryEvent,
    only_project: Option<&str>,
) -> Result<Option<usize>> {
    if !matches!(payload.action.as_str(), "renamed" | "transferred") {
        return Ok(None);
    }
    let moved = &payload.repository;
    // A transfer names the account it came from; a rename keeps the owner.
    let from = &payload.changes["owner"]["from"];
    let previous_owner = from["organization"]["login"]
        .as_str()
        .or_else(|| from["user"]["login"].as_str())
        .unwrap_or(&moved.owner.login);
    let policy = format!("github:repository.{}", payload.action);
    let mut changed = 0;
    for project in directory.projects_linking_owner(previous_owner).await? {
        if only_project.is_some_and(|only| only != project.id) {
            continue;
        }
        let next = |link: &RepositoryLink| {
            if link.repository_id != Some(moved.id)
                || (link.owner == moved.owner.login && link.name == moved.name)
            {
                return None;
            }
            let next = RepositoryLink {
                owner: moved.owner.login.clone(),
                name: moved.name.clone(),
                ..link.clone()
            };
            let said = format!("{} -> {} on GitHub", link.full_name(), next.full_name());
            Some((next, said))
        };
        if update(directory, project, &policy, next).await? {
            changed += 1;
        }
    }
    Ok(Some(changed))
}

/// Changes each of one project's links as `next` says, reading the project again when someone
/// changed it meanwhile.
async fn update<G: ProjectDirectory>(
    directory: &G,
    mut project: Project,
    policy: &str,
    next: impl Fn(&RepositoryLink) -> Option<(RepositoryLink, String)>,
) -> Result<bool> {
    for _ in 0..ATTEMPTS {
        let Some((mut updated, changed)) = project.with_links_changed(&next) else {
            return Ok(false);
        };
        let entry = AuditEntry {
            target: Some(
                changed
                    .iter()
                    .map(|(link, _)| link.full_name())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            change: Some(
                changed
                    .iter()
                    .map(|(_, said)| said.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ..audit(&project, policy.to_owned())
        };
        let expected = project.version;
        updated.version = expected + 1;
        updated.updated_at = Utc::now();
        match directory
            .update_project(&updated, expected, None, &entry)
            .await?
        {
            ProjectUpdateOutcome::Updated => {
                for (link, _) in &changed {
                    tracing::info!(
                        project = %project.id,
                        repository = %link.full_name(),
                        disconnected = link.disconnected,
                        "repository link updated from GitHub"
                    );
                }
                return Ok(true);
            }
            ProjectUpdateOutcome::Conflict | ProjectUpdateOutcome::KeyTaken => {
                let Some(again) = directory
                    .projects(std::slice::from_ref(&project.id))
                    .await?
                    .into_iter()
                    .next()
                else {
                    return Ok(false);
                };
                project = again;
            }
        }
    }
    Err(Error::ConcurrentUpdate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository(id: u64, full_name: &str) -> InstalledRepository {
        InstalledRepository {
            id,
            full_name: full_name.to_owned(),
        }
    }

    #[test]
    fn a_removed_repository_disconnects_its_link_by_name_then_by_id() {
        let link = RepositoryLink::new("acme", "shop", "main");
        let removed = [repository(9, "ACME/shop")];
        let change = Change::Repositories {
            connect: &[],
            disconnect: &removed,
        };
        let next = next_link(&link, 77, &change).expect("the link changes");
        assert!(next.disconnected);
        assert_eq!(
            (next.installation_id, next.repository_id),
            (Some(77), Some(9))
        );
        // Renamed meanwhile: the id still finds it.
        let renamed = RepositoryLink {
            name: "storefront".into(),
            ..next.clone()
        };
        let added = [repository(9, "acme/shop")];
        let back = Change::Repositories {
            connect: &added,
            disconnect: &[],
        };
        let reconnected = next_link(&renamed, 77, &back).expect("the link changes");
        assert!(!reconnected.disconnected);
        assert_eq!(
            reconnected.name, "storefront",
            "the name is GitHub's to change"
        );
        // Nothing to do twice, and another repository does not touch it.
        assert_eq!(next_link(&reconnected, 77, &back), None);
        let other = [repository(10, "acme/app")];
        let unrelated = Change::Repositories {
            connect: &[],
            disconnect: &other,
        };
        assert_eq!(next_link(&reconnected, 77, &unrelated), None);
    }

    #[test]
    fn an_uninstalled_or_suspended_app_disconnects_every_link_of_the_account() {
        let payload: InstallationEvent = serde_json::from_value(serde_json::json!({
            "action": "suspend",
            "installation": {"id": 77, "account": {"login": "acme"}},
            "sender": {"login": "dana"}
        }))
        .expect("GitHub's payload");
        let change = change_of("installation", &payload).expect("a change");
        assert_eq!(change, Change::Account { connected: false });
        let next = next_link(&RepositoryLink::new("acme", "shop", "main"), 77, &change)
            .expect("the link changes");
        assert!(next.disconnected);
        let ignored: InstallationEvent = serde_json::from_value(serde_json::json!({
            "action": "new_permissions_accepted_by_nobody",
            "installation": {"id": 77, "account": {"login": "acme"}}
        }))
        .expect("GitHub's payload");
        assert_eq!(change_of("installation", &ignored), None);
    }
}
