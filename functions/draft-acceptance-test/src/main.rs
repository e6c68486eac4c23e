//! draft-acceptance-test: POST /stories/{id}/test-drafts.

use aipm::handlers::drafts::{DRAFT_BUDGET, DraftTests};
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("draft-acceptance-test").await?;
    serve(
        &cold_start,
        DraftTests::new(
            cold_start.story_repository(),
            cold_start.acceptance_test_repository(),
            cold_start.language_model(DRAFT_BUDGET).await?,
            cold_start.assist_ledger()?,
            cold_start.gate()?,
        ),
    )
    .await
}
