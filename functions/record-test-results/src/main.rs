//! record-test-results: POST /projects/{key}/test-results; a CI job's JUnit report,
//! authenticated by a GitHub Actions OIDC token or the project's upload token (no JWT).

use aipm::handlers::test_results::RecordTestResults;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("record-test-results").await?;
    let gate = cold_start.records_gate()?;
    serve(
        &cold_start,
        RecordTestResults::new(gate.projects().clone(), cold_start.test_evidence()?)
            .with_actions_oidc(cold_start.actions_oidc()?),
    )
    .await
}
