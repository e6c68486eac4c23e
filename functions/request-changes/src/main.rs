//! request-changes: POST /stories/{id}/change-requests.

use aipm::handlers::revisions::RequestChanges;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("request-changes").await?;
    serve(
        &cold_start,
        RequestChanges::new(
            cold_start.story_repository(),
            cold_start.follow_up_repository()?,
            cold_start.task_queue(),
            cold_start.code_host().await?,
            cold_start.gate()?,
        ),
    )
    .await
}
