//! get-stories: GET /stories.

use aipm::handlers::get_stories::GetStories;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("get-stories").await?;
    serve(
        &cold_start,
        GetStories::new(cold_start.story_repository(), cold_start.gate()?)
            .reading_links(cold_start.links()?),
    )
    .await
}
