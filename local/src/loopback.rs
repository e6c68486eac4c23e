//! A loopback HTTP/1 server for the local gateway and the test doubles (the contract proxy, the
//! Lambda Runtime API): every request on every connection goes to one async handler.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

/// Binds a free loopback port and serves `handler` on it until the handle is aborted; returns
/// the `host:port` and the handle.
pub async fn serve<H, F>(handler: H) -> (String, JoinHandle<()>)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let address = listener
        .local_addr()
        .expect("the bound address")
        .to_string();
    (address, serve_on(listener, handler))
}

/// Serves `handler` on every connection `listener` accepts until the handle is aborted.
pub fn serve_on<H, F>(listener: tokio::net::TcpListener, handler: H) -> JoinHandle<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: wait instead of ending the server.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let answer = handler(request);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    // The local gateway's live channel upgrades a request to a WebSocket.
                    .with_upgrades()
                    .await;
            });
        }
    })
}
