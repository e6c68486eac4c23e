//! set-story-documents: PUT /stories/{id}/documents.

use aipm::handlers::documents::SetStoryDocuments;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("set-story-documents").await?;
    serve(
        &cold_start,
        SetStoryDocuments::new(
            cold_start.story_repository(),
            cold_start.acceptance_test_repository(),
            cold_start.documents()?,
            cold_start.gate()?,
        ),
    )
    .await
}
