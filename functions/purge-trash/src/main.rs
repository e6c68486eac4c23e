//! purge-trash: DELETE /projects/{key}/trash/{id}.

use aipm::handlers::trash::PurgeTrash;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("purge-trash").await?;
    serve(
        &cold_start,
        PurgeTrash::new(cold_start.trash()?, cold_start.gate()?)
            .with_documents(cold_start.documents()?),
    )
    .await
}
