//! invest-reviewer: the AI review queue's consumer; writes each story's advisory `aiReview`.

use std::sync::Arc;

use aipm::handlers::invest_review::{InvestReviewer, REVIEW_BUDGET};
use aipm::runtime::{ColdStart, serve_queue};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("invest-reviewer").await?;
    let reviewer = Arc::new(InvestReviewer::new(
        cold_start.story_repository(),
        cold_start.acceptance_test_repository(),
        cold_start.language_model(REVIEW_BUDGET).await?,
    ));
    serve_queue(&cold_start, move |body| {
        let reviewer = Arc::clone(&reviewer);
        async move { reviewer.handle_message(body).await }
    })
    .await
}
