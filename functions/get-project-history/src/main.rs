//! get-project-history: GET /projects/{key}/history.

use aipm::handlers::history::GetProjectHistory;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("get-project-history").await?;
    serve(
        &cold_start,
        GetProjectHistory::new(cold_start.history()?, cold_start.gate()?),
    )
    .await
}
