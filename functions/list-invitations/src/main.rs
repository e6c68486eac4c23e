//! list-invitations: GET /projects/{key}/invitations.

use aipm::handlers::projects::ListInvitations;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("list-invitations").await?;
    serve(&cold_start, ListInvitations::new(cold_start.gate()?)).await
}
