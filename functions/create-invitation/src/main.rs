//! create-invitation: POST /projects/{key}/invitations.

use aipm::handlers::projects::CreateInvitation;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("create-invitation").await?;
    serve(&cold_start, CreateInvitation::new(cold_start.gate()?)).await
}
