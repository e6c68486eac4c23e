//! get-project-access: GET /projects/{key}/me.

use aipm::handlers::projects::GetProjectAccess;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("get-project-access").await?;
    serve(&cold_start, GetProjectAccess::new(cold_start.gate()?)).await
}
