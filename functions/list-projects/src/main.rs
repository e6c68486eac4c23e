//! list-projects: GET /projects.

use aipm::handlers::projects::ListProjects;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("list-projects").await?;
    serve(&cold_start, ListProjects::new(cold_start.gate()?)).await
}
