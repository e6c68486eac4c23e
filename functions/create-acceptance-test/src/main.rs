//! create-acceptance-test: POST /stories/{id}/tests.

use aipm::handlers::create_acceptance_test::CreateAcceptanceTest;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("create-acceptance-test").await?;
    serve(
        &cold_start,
        CreateAcceptanceTest::new(cold_start.acceptance_test_repository(), cold_start.gate()?),
    )
    .await
}
