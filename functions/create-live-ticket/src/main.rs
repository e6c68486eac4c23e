//! create-live-ticket: POST /projects/{key}/live-tickets.

use aipm::handlers::live::CreateLiveTicket;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("create-live-ticket").await?;
    serve(
        &cold_start,
        CreateLiveTicket::new(
            cold_start.live_registry()?,
            cold_start.gate()?,
            cold_start.live_socket_url(),
        ),
    )
    .await
}
