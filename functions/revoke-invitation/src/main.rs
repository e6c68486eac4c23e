//! revoke-invitation: DELETE /projects/{key}/invitations/{invitationId}.

use aipm::handlers::projects::ChangeInvitation;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("revoke-invitation").await?;
    serve(&cold_start, ChangeInvitation::revoke(cold_start.gate()?)).await
}
