//! health-check: GET /health.

use aipm::config::BUILD;
use aipm::handlers::health_check::HealthCheck;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("health-check").await?;
    let stage = cold_start.config.stage.clone();
    serve(
        &cold_start,
        HealthCheck::new(cold_start.health_probe(), stage, BUILD),
    )
    .await
}
