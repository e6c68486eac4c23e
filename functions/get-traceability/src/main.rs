//! get-traceability: GET /projects/{key}/traceability; the traceability matrix, or with
//! `story` one story's subtree and its runs × tests.

use aipm::handlers::traceability::GetTraceability;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("get-traceability").await?;
    serve(
        &cold_start,
        GetTraceability::new(
            cold_start.story_repository(),
            cold_start.code_task_repository(),
            cold_start.test_evidence()?,
            cold_start.gate()?,
        ),
    )
    .await
}
