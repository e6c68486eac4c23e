//! update-project: PATCH /projects/{key}; with the GitHub App, it links only repositories the
//! App reaches.

use aipm::handlers::projects::UpdateProject;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("update-project").await?;
    let app = cold_start.github_app().await?;
    serve(
        &cold_start,
        UpdateProject::new(cold_start.gate()?).reaching(app),
    )
    .await
}
