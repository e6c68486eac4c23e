//! create-story: POST /stories.

use aipm::handlers::create_story::CreateStory;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("create-story").await?;
    serve(
        &cold_start,
        CreateStory::new(cold_start.story_repository(), cold_start.gate()?),
    )
    .await
}
