//! update-acceptance-test: PATCH /stories/{id}/tests/{testId}.

use aipm::handlers::update_acceptance_test::UpdateAcceptanceTest;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("update-acceptance-test").await?;
    serve(
        &cold_start,
        UpdateAcceptanceTest::new(cold_start.acceptance_test_repository(), cold_start.gate()?),
    )
    .await
}
