//! get-story-history: GET /projects/{key}/stories/{id}/history.

use aipm::handlers::history::GetStoryHistory;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("get-story-history").await?;
    serve(
        &cold_start,
        GetStoryHistory::new(cold_start.history()?, cold_start.gate()?),
    )
    .await
}
