//! list-members: GET /projects/{key}/members.

use aipm::handlers::projects::ListMembers;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("list-members").await?;
    serve(&cold_start, ListMembers::new(cold_start.gate()?)).await
}
