//! delete-acceptance-test: DELETE /stories/{id}/tests/{testId}.

use aipm::handlers::delete_acceptance_test::DeleteAcceptanceTest;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("delete-acceptance-test").await?;
    serve(
        &cold_start,
        DeleteAcceptanceTest::new(cold_start.acceptance_test_repository(), cold_start.gate()?),
    )
    .await
}
