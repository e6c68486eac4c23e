//! revoke-upload-token: DELETE /projects/{key}/upload-token; uploads with it stop working.

use aipm::handlers::upload_tokens::RevokeUploadToken;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("revoke-upload-token").await?;
    serve(
        &cold_start,
        RevokeUploadToken::new(cold_start.gate()?, cold_start.test_evidence()?),
    )
    .await
}
