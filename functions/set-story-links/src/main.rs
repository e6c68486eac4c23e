//! set-story-links: PUT /stories/{id}/links.

use aipm::handlers::set_story_links::SetStoryLinks;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("set-story-links").await?;
    serve(
        &cold_start,
        SetStoryLinks::new(
            cold_start.story_repository(),
            cold_start.acceptance_test_repository(),
            cold_start.links()?,
            cold_start.gate()?,
        ),
    )
    .await
}
