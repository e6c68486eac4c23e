//! update-story: PATCH /stories/{id}.

use aipm::handlers::update_story::UpdateStory;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("update-story").await?;
    serve(
        &cold_start,
        UpdateStory::new(
            cold_start.story_repository(),
            cold_start.acceptance_test_repository(),
            cold_start.gate()?,
        )
        .judging_done_by(cold_start.ci_gate()?)
        .with_links(cold_start.links()?),
    )
    .await
}
