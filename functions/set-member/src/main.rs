//! set-member: PUT /projects/{key}/members/{sub}.

use aipm::handlers::projects::ChangeMember;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("set-member").await?;
    serve(&cold_start, ChangeMember::set_role(cold_start.gate()?)).await
}
