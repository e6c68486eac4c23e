//! web: GET /, /config.json and /assets/{version}/{file}: the UI, same origin as the API.

use aipm::handlers::web::{BuiltAssets, Web, WebConfig};
use aipm::runtime::serve_without_aws;

/// Every file of `web/`, prepared by build.rs.
const ASSETS: BuiltAssets = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let config = WebConfig::from_env()?;
    let stage = config.stage.clone();
    serve_without_aws("web", &stage, Web::new(&ASSETS, &config)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aipm::handlers::web::Asset;
    use aipm::http::Operation;
    use lambda_http::{Body, Request};

    /// `web/` as it is now, prepared at run time the way the domain crate's tests do.
    fn sources() -> Vec<Asset> {
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
        let mut assets: Vec<Asset> = std::fs::read_dir(&web)
            .unwrap()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_type().unwrap().is_file())
            .map(|entry| entry.file_name().into_string().unwrap())
            .filter(|name| !name.starts_with('.'))
            .map(|name| Asset {
                bytes: std::fs::read(web.join(&name)).unwrap().leak(),
                name: name.leak(),
            })
            .collect();
        assets.sort_by_key(|asset| asset.name);
        assets
    }

    async fn get(web: &Web, path: &str, gzip: bool) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut request = Request::new(Body::Empty);
        *request.uri_mut() = path.parse().unwrap();
        if gzip {
            request
                .headers_mut()
                .insert("accept-encoding", "gzip".parse().unwrap());
        }
        let response = web.handle(request).await.unwrap();
        let mut headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        headers.sort();
        let body = match response.body() {
            Body::Binary(bytes) => bytes.clone(),
            Body::Text(text) => text.clone().into_bytes(),
            _ => Vec::new(),
        };
        (response.status().as_u16(), headers, body)
    }

    /// The build script's output serves exactly what preparing `web/` at cold start served:
    /// same version, bodies, gzip forms, types and ETags.
    #[tokio::test]
    async fn the_built_files_answer_as_the_sources_prepared_at_run_time() {
        let config = WebConfig {
            stage: "local".into(),
            sign_in: None,
            local_people: Vec::new(),
            documents_origin: None,
            live_origin: None,
        };
        let sources = sources();
        let built = Web::new(&ASSETS, &config);
        let prepared = Web::from_sources(&sources, &config);
        assert_eq!(built.version(), prepared.version());
        assert_eq!(ASSETS.files.len(), sources.len());
        let mut paths = vec!["/".to_owned(), "/config.json".into(), "/missing".into()];
        paths.extend(
            sources
                .iter()
                .map(|asset| format!("/assets/{}/{}", built.version(), asset.name)),
        );
        for path in &paths {
            for gzip in [false, true] {
                let answer = get(&built, path, gzip).await;
                assert_eq!(
                    answer,
                    get(&prepared, path, gzip).await,
                    "{path} gzip={gzip}"
                );
                assert_eq!(
                    answer.0,
                    if path == "/missing" { 404 } else { 200 },
                    "{path}"
                );
            }
        }
    }
}
