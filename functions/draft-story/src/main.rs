//! draft-story: POST /story-drafts.

use aipm::handlers::drafts::{DRAFT_BUDGET, DraftStory};
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("draft-story").await?;
    serve(
        &cold_start,
        DraftStory::new(
            cold_start.story_repository(),
            cold_start.language_model(DRAFT_BUDGET).await?,
            cold_start.assist_ledger()?,
            cold_start.gate()?,
        ),
    )
    .await
}
