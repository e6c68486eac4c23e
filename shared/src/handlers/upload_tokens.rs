//! POST and DELETE /projects/{key}/upload-token: a maintainer issues the project's CI upload
//! token (shown once, stored only as its hash; issuing again replaces it) or revokes it.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::Result;
use crate::handlers::projects::project_key;
use crate::handlers::test_results::UPLOAD_TOKEN_PREFIX;
use crate::http::{Operation, json_response};
use crate::ports::{ProjectDirectory, TestEvidence, UploadToken};
use crate::project::invitation_secret;

/// Issues a new upload token, replacing the project's earlier one.
pub struct IssueUploadToken<G, E> {
    gate: Gate<G>,
    evidence: E,
}

impl<G, E> IssueUploadToken<G, E> {
    pub fn new(gate: Gate<G>, evidence: E) -> Self {
        Self { gate, evidence }
    }
}

impl<G: ProjectDirectory, E: TestEvidence> Operation for IssueUploadToken<G, E> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self
            .gate
            .admit(&request, ProjectRef::Key(&key), Action::EditSettings)
            .await?;
        let (secret, _) = invitation_secret();
        let token = format!("{UPLOAD_TOKEN_PREFIX}{secret}");
        let issued = UploadToken {
            hash: crate::project::secret_hash(&token),
            issued_at: Utc::now(),
            issued_by: access.caller.sub.clone(),
        };
        self.evidence
            .set_upload_token(&access.project.id, Some(&issued))
            .await?;
        tracing::info!(project = %access.project.id, by = %issued.issued_by, "upload token issued");
        let mut response = json_response(
            StatusCode::CREATED,
            &json!({
                "token": token,
                "issuedAt": issued.issued_at,
                "issuedBy": issued.issued_by,
                "uploadPath": format!("/projects/{}/test-results", access.project.key),
            }),
        );
        // Shown once: nothing on the way keeps a copy.
        response.headers_mut().insert(
            "cache-control",
            lambda_http::http::HeaderValue::from_static("no-store"),
        );
        Ok(response)
    }
}

/// Revokes the project's upload token: uploads with it are refused from then on.
pub struct RevokeUploadToken<G, E> {
    gate: Gate<G>,
    evidence: E,
}

impl<G, E> RevokeUploadToken<G, E> {
    pub fn new(gate: Gate<G>, evidence: E) -> Self {
        Self { gate, evidence }
    }
}

impl<G: ProjectDirectory, E: TestEvidence> Operation for RevokeUploadToken<G, E> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let key = project_key(&request);
        let access = self
            .gate
            .admit(&request, ProjectRef::Key(&key), Action::EditSettings)
            .await?;
        let revoked = self
            .evidence
            .set_upload_token(&access.project.id, None)
            .await?;
        tracing::info!(project = %access.project.id, by = %access.caller.sub, revoked, "upload token revoked");
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::Method;

    use super::*;
    use crate::adapters::memory_evidence::MemoryEvidence;
    use crate::adapters::memory_projects::MemoryProjects;
    use crate::adapters::memory_projects::local_gate_over;
    use crate::handlers::test_support::{as_person, error_code, json};
    use crate::http::respond;

    fn request(method: Method, person: &str) -> Request {
        as_person(
            person,
            method,
            "/projects/AIPM/upload-token",
            "",
            &[("key", "AIPM")],
        )
    }

    #[tokio::test]
    async fn a_maintainer_issues_a_token_shown_once_and_stored_as_its_hash_then_revokes_it() {
        let projects = MemoryProjects::with_default_project();
        let evidence = MemoryEvidence::default();
        let issue = IssueUploadToken::new(local_gate_over(projects.clone()), evidence.clone());
        let issued = respond(&issue, request(Method::POST, "local-admin")).await;
        assert_eq!(issued.status(), 201);
        assert_eq!(issued.headers()["cache-control"], "no-store");
        let token = json(&issued)["token"].as_str().unwrap().to_owned();
        assert!(token.starts_with(UPLOAD_TOKEN_PREFIX) && token.len() > 60);
        let stored = evidence.upload_token("default").await.unwrap().unwrap();
        assert_eq!(stored.hash, crate::project::secret_hash(&token));
        assert_eq!(stored.issued_by, "local-admin");

        // Issuing again replaces it.
        let again = json(&respond(&issue, request(Method::POST, "local-admin")).await);
        assert_ne!(again["token"], token.as_str());
        assert_ne!(
            evidence
                .upload_token("default")
                .await
                .unwrap()
                .unwrap()
                .hash,
            stored.hash
        );

        // A contributor may not; a viewer neither.
        let refused = respond(&issue, request(Method::POST, "local-contributor")).await;
        assert_eq!(refused.status(), 403);
        assert_eq!(error_code(&refused), "PERMISSION_DENIED");

        let revoke = RevokeUploadToken::new(local_gate_over(projects.clone()), evidence.clone());
        let revoked = respond(&revoke, request(Method::DELETE, "local-admin")).await;
        assert_eq!(revoked.status(), 204);
        assert_eq!(evidence.upload_token("default").await.unwrap(), None);
    }
}
