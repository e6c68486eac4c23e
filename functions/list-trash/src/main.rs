//! list-trash: GET /projects/{key}/trash.

use aipm::handlers::trash::ListTrash;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("list-trash").await?;
    serve(
        &cold_start,
        ListTrash::new(cold_start.trash()?, cold_start.gate()?),
    )
    .await
}
