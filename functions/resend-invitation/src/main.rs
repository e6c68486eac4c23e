//! resend-invitation: POST /projects/{key}/invitations/{invitationId}/resend.

use aipm::handlers::projects::ChangeInvitation;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("resend-invitation").await?;
    serve(&cold_start, ChangeInvitation::resend(cold_start.gate()?)).await
}
