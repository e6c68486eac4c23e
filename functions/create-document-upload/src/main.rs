//! create-document-upload: POST /stories/{id}/documents/uploads.

use aipm::handlers::documents::CreateDocumentUpload;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("create-document-upload").await?;
    serve(
        &cold_start,
        CreateDocumentUpload::new(
            cold_start.story_repository(),
            cold_start.documents()?,
            cold_start.gate()?,
        ),
    )
    .await
}
