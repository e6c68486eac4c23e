//! update-project: PATCH /projects/{key}.

use aipm::handlers::projects::UpdateProject;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("update-project").await?;
    serve(&cold_start, UpdateProject::new(cold_start.gate()?)).await
}
