//! accept-invitation: POST /invitations/accept.

use aipm::handlers::projects::AcceptInvitation;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("accept-invitation").await?;
    serve(&cold_start, AcceptInvitation::new(cold_start.gate()?)).await
}
