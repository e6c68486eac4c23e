//! generate-code: POST /stories/{id}/generate-code.

use aipm::handlers::generate_code::GenerateCode;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("generate-code").await?;
    serve(
        &cold_start,
        GenerateCode::new(
            cold_start.story_repository(),
            cold_start.acceptance_test_repository(),
            cold_start.code_task_repository(),
            cold_start.task_queue(),
            cold_start.code_host().await?,
            cold_start.gate()?,
        )
        .with_links(cold_start.links()?),
    )
    .await
}
