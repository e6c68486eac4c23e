//! GET /projects/{key}/repositories: the repositories the deployment's GitHub App reaches, for
//! a maintainer choosing what the project links; each says whether the project links it.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::project_key;
use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::Result;
use crate::http::{Operation, json_response};
use crate::ports::{ProjectDirectory, RepositoryReach, WithoutApp};

/// At most this many are listed; an App on more repositories than that is rare, and the form
/// still takes any name typed.
pub const LISTED_REPOSITORIES: usize = 500;

pub struct ListRepositories<G, R = WithoutApp> {
    gate: Gate<G>,
    /// The GitHub App; without it nothing can be listed and people type the name.
    app: Option<R>,
}

impl<G> ListRepositories<G> {
    pub fn new(gate: Gate<G>) -> Self {
        Self { gate, app: None }
    }
}

impl<G, R> ListRepositories<G, R> {
    /// The same, asking the GitHub App (`None`: no App).
    pub fn reaching<A>(self, app: Option<A>) -> ListRepositories<G, A> {
        ListRepositories {
            gate: self.gate,
            app,
        }
    }
}

impl<G: ProjectDirectory, R: RepositoryReach> Operation for ListRepositories<G, R> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self
            .gate
            .admit(&request, ProjectRef::Key(&key), Action::EditSettings)
            .await?;
        let listed = match &self.app {
            Some(app) => app.reachable(LISTED_REPOSITORIES).await?,
            None => None,
        };
        let github_app = listed.is_some();
        let (repositories, truncated) = listed.unwrap_or_default();
        let project = &access.project;
        let offered: Vec<_> = repositories
            .iter()
            .map(|repository| {
                let full_name = format!("{}/{}", repository.owner, repository.name);
                let linked = project.linked_repositories().any(|link| {
                    link.repository_id == Some(repository.repository_id)
                        || link.full_name().eq_ignore_ascii_case(&full_name)
                });
                let mut entry = json!(repository);
                entry["fullName"] = json!(full_name);
                entry["linked"] = json!(linked);
                entry
            })
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "githubApp": github_app,
                "repositories": offered,
                "truncated": truncated,
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory_projects::{MemoryProjects, local_gate_over};
    use crate::handlers::test_support::{json, request};
    use crate::http::respond;
    use crate::ports::{InstallationRepository, ReachableRepositories, ReachableRepository};
    use crate::project::RepositoryLink;
    use lambda_http::RequestExt;
    use lambda_http::http::Method;

    /// An App installed on acme with three repositories.
    struct ThreeRepositories;

    impl RepositoryReach for ThreeRepositories {
        async fn reach(&self, _: &str, _: &str) -> Result<Option<InstallationRepository>> {
            Ok(None)
        }

        async fn reachable(&self, limit: usize) -> Result<Option<ReachableRepositories>> {
            let all: Vec<_> = ["api", "shop", "web"]
                .iter()
                .zip(1u64..)
                .map(|(name, id)| ReachableRepository {
                    owner: "acme".into(),
                    name: (*name).into(),
                    repository_id: id,
                    installation_id: 77,
                    default_branch: "main".into(),
                    private: true,
                })
                .collect();
            Ok(Some((
                all.iter().take(limit).cloned().collect(),
                all.len() > limit,
            )))
        }
    }

    async fn list<R: RepositoryReach>(
        projects: &MemoryProjects,
        app: Option<R>,
        person: &str,
    ) -> Response<Body> {
        let mut request =
            request(Method::GET, "/projects/AIPM/repositories", "").with_path_parameters(
                std::collections::HashMap::from([("key".to_owned(), "AIPM".to_owned())]),
            );
        request.headers_mut().insert(
            crate::authz::identity::LOCAL_PERSON_HEADER,
            person.parse().unwrap(),
        );
        let operation = ListRepositories::new(local_gate_over(projects.clone())).reaching(app);
        respond(&operation, request).await
    }

    #[tokio::test]
    async fn maintainers_see_what_the_app_reaches_and_what_is_linked_already() {
        let projects = MemoryProjects::with_default_project();
        projects.link_repository(
            "default",
            Some(RepositoryLink {
                repository_id: Some(2),
                ..RepositoryLink::new("acme", "old-shop-name", "main")
            }),
        );
        projects
            .link_other_repositories("default", vec![RepositoryLink::new("ACME", "Web", "main")]);
        let listed = list(&projects, Some(ThreeRepositories), "local-maintainer").await;
        assert_eq!(listed.status(), 200);
        let body = json(&listed);
        assert_eq!(body["githubApp"], true);
        let linked: Vec<(String, bool)> = body["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["fullName"].as_str().unwrap().to_owned(),
                    r["linked"] == true,
                )
            })
            .collect();
        assert_eq!(
            linked,
            [
                ("acme/api".to_owned(), false),
                ("acme/shop".to_owned(), true),
                ("acme/web".to_owned(), true)
            ],
            "linked by GitHub's id through a rename, or by name"
        );

        let contributor = list(&projects, Some(ThreeRepositories), "local-contributor").await;
        assert_eq!(contributor.status(), 403);
        let outsider = list(&projects, Some(ThreeRepositories), "local-outsider").await;
        assert_eq!(outsider.status(), 404);

        let without_app = list::<ThreeRepositories>(&projects, None, "local-maintainer").await;
        assert_eq!(
            json(&without_app),
            json!({"githubApp": false, "repositories": [], "truncated": false})
        );
    }
}
