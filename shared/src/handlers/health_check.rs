//! GET /health: is every dependency answering, and which build is this.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::config::BuildInfo;
use crate::error::Result;
use crate::http::{Operation, json_response};
use crate::ports::{DependencyCheck, HealthProbe};

pub struct HealthCheck<P> {
    probe: P,
    stage: String,
    build: BuildInfo,
}

impl<P: HealthProbe> HealthCheck<P> {
    pub fn new(probe: P, stage: impl Into<String>, build: BuildInfo) -> Self {
        Self {
            probe,
            stage: stage.into(),
            build,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HealthReport<'a> {
    status: &'static str,
    stage: &'a str,
    version: &'static str,
    commit: &'static str,
    dependencies: Vec<DependencyCheck>,
}

impl<P: HealthProbe> Operation for HealthCheck<P> {
    async fn handle(&self, _request: Request) -> Result<Response<Body>> {
        let dependencies = self.probe.check_all().await;
        let healthy = dependencies.iter().all(|check| check.healthy);
        let status = if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        Ok(json_response(
            status,
            &HealthReport {
                status: if healthy { "ok" } else { "unavailable" },
                stage: &self.stage,
                version: self.build.version,
                commit: self.build.commit,
                dependencies,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::StaticHealthProbe;
    use crate::config::BUILD;
    use crate::handlers::test_support::{json, request};
    use crate::http::respond;
    use lambda_http::http::Method;

    #[tokio::test]
    async fn all_dependencies_up_is_200_with_build_details() {
        let operation = HealthCheck::new(StaticHealthProbe::default(), "dev", BUILD);
        let response = respond(&operation, request(Method::GET, "/health", "")).await;
        assert_eq!(response.status(), 200);
        let report = json(&response);
        assert_eq!(report["status"], "ok");
        assert_eq!(report["stage"], "dev");
        assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(report["dependencies"].as_array().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn one_dependency_down_is_503_naming_it() {
        let probe = StaticHealthProbe {
            failing: vec!["codeTasksQueue"],
        };
        let operation = HealthCheck::new(probe, "dev", BUILD);
        let response = respond(&operation, request(Method::GET, "/health", "")).await;
        assert_eq!(response.status(), 503);
        let report = json(&response);
        let failing: Vec<&str> = report["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|check| check["healthy"] == false)
            .map(|check| check["name"].as_str().unwrap())
            .collect();
        assert_eq!(failing, vec!["codeTasksQueue"]);
    }
}
