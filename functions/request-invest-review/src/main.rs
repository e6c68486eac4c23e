//! request-invest-review: POST /stories/{id}/invest-review.

use aipm::config::{AiConfig, AiProvider};
use aipm::handlers::invest_review::RequestInvestReview;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("request-invest-review").await?;
    let enabled = AiConfig::from_env()?.provider != AiProvider::Off;
    serve(
        &cold_start,
        RequestInvestReview::new(
            cold_start.story_repository(),
            cold_start.acceptance_test_repository(),
            cold_start.review_queue()?,
            cold_start.assist_ledger()?,
            enabled,
            cold_start.gate()?,
        ),
    )
    .await
}
