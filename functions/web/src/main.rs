//! web: GET /, /config.json and /assets/{version}/{file}: the UI, same origin as the API.

use aipm::handlers::web::{Asset, Web, WebConfig};
use aipm::runtime::serve_without_aws;

/// Every file of `web/`, embedded by build.rs.
const ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let config = WebConfig::from_env()?;
    let stage = config.stage.clone();
    serve_without_aws("web", &stage, Web::new(ASSETS, &config)).await
}
