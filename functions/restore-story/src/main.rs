//! restore-story: POST /projects/{key}/trash/{id}/restore.

use aipm::handlers::trash::RestoreStory;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("restore-story").await?;
    serve(
        &cold_start,
        RestoreStory::new(cold_start.trash()?, cold_start.gate()?),
    )
    .await
}
