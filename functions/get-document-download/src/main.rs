//! get-document-download: GET /stories/{id}/documents/files/{fileId}.

use aipm::handlers::documents::GetDocumentDownload;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("get-document-download").await?;
    serve(
        &cold_start,
        GetDocumentDownload::new(
            cold_start.story_repository(),
            cold_start.documents()?,
            cold_start.gate()?,
        ),
    )
    .await
}
