//! live-socket: the WebSocket API's `$connect`, `$disconnect` and `$default` routes.

use std::sync::Arc;

use aipm::handlers::live::LiveSocket;
use aipm::runtime::{ColdStart, serve_events};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("live-socket").await?;
    let socket = Arc::new(LiveSocket::new(cold_start.live_registry()?));
    serve_events(&cold_start, move |event| {
        let socket = Arc::clone(&socket);
        async move {
            let answer = Box::pin(socket.handle(&event)).await;
            let status = answer["statusCode"].as_u64().unwrap_or(500) as u16;
            (answer, status)
        }
    })
    .await
}
