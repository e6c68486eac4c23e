//! issue-upload-token: POST /projects/{key}/upload-token; a maintainer gets the project's CI
//! upload token, shown once.

use aipm::handlers::upload_tokens::IssueUploadToken;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("issue-upload-token").await?;
    serve(
        &cold_start,
        IssueUploadToken::new(cold_start.gate()?, cold_start.test_evidence()?),
    )
    .await
}
