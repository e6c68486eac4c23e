//! create-project: POST /projects.

use aipm::handlers::projects::CreateProject;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("create-project").await?;
    serve(&cold_start, CreateProject::new(cold_start.gate()?)).await
}
