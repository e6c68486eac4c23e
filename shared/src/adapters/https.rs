//! One small HTTP(S) client for the few plain calls that need no client library (a model
//! provider's chat completions, GitHub's OIDC keys): hyper's pooled client over rustls with ring
//! and the system's roots, the TLS stack the AWS clients already link.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for `base_url`. Fails only when the system's certificate roots cannot be read (for
/// an `https://` URL); a plain-HTTP URL (a local server, a test's) needs no roots, and reading
/// the system's bundle would cost every cold start about 5 ms.
pub fn client_for(base_url: &str) -> std::io::Result<HttpsClient> {
    let mut tcp = HttpConnector::new();
    tcp.set_connect_timeout(Some(Duration::from_secs(2)));
    tcp.enforce_http(false);
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = if base_url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_native_roots(provider)?
    } else {
        let nothing_trusted = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(nothing_trusted)
    };
    let connector = tls.https_or_http().enable_http1().wrap_connector(tcp);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}
