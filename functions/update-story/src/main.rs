//! update-story: PATCH /stories/{id}.

use aipm::handlers::update_story::UpdateStory;
use aipm::runtime::{ColdStart, serve};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init().await?;
    serve(UpdateStory::new(
        cold_start.story_repository(),
        cold_start.acceptance_test_repository(),
    ))
    .await
}
