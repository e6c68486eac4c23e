//! get-story: GET /stories/{id}.

use aipm::handlers::get_story::GetStory;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("get-story").await?;
    serve(
        &cold_start,
        GetStory::new(
            cold_start.story_repository(),
            cold_start.acceptance_test_repository(),
            cold_start.code_task_repository(),
            cold_start.gate()?,
        )
        .reading_links(cold_start.links()?),
    )
    .await
}
