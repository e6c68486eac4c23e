//! remove-member: DELETE /projects/{key}/members/{sub}.

use aipm::handlers::projects::ChangeMember;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("remove-member").await?;
    serve(&cold_start, ChangeMember::remove(cold_start.gate()?)).await
}
