//! list-repositories: GET /projects/{key}/repositories; with the GitHub App, the repositories
//! its installations reach, for a maintainer linking one.

use aipm::handlers::projects::ListRepositories;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("list-repositories").await?;
    let app = cold_start.github_app().await?;
    serve(
        &cold_start,
        ListRepositories::new(cold_start.gate()?).reaching(app),
    )
    .await
}
