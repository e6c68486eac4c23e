//! create-project: POST /projects; with the GitHub App, it links only a repository the App
//! reaches.

use aipm::handlers::projects::CreateProject;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("create-project").await?;
    let app = cold_start.github_app().await?;
    serve(
        &cold_start,
        CreateProject::new(cold_start.gate()?).reaching(app),
    )
    .await
}
