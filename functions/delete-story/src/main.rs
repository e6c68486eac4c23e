//! delete-story: DELETE /stories/{id}.

use aipm::handlers::delete_story::DeleteStory;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("delete-story").await?;
    serve(
        &cold_start,
        DeleteStory::new(
            cold_start.story_repository(),
            cold_start.acceptance_test_repository(),
            cold_start.gate()?,
        )
        .with_links(cold_start.links()?)
        // Files stay in the bucket while the story is in the trash; purge-trash takes them.
        .with_trash(cold_start.trash()?),
    )
    .await
}
