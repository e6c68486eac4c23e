//! web: GET /, /config.json and /assets/{version}/{file}: the UI's files (embedded in the
//! `web` function by its build script), with content types, ETags, gzip and caching, and the
//! UI's settings built from the function's environment.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use crate::config::{MissingVariable, vars};
use crate::error::Result;
use crate::http::Operation;

pub mod prepare;

use std::borrow::Cow;

/// One file of `web/` as it is in the repository (tests prepare these at run time).
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub name: &'static str,
    pub bytes: &'static [u8],
}

/// One file of `web/` as the web function's build script prepared it.
#[derive(Debug, Clone, Copy)]
pub struct BuiltFile {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    pub gzip: Option<&'static [u8]>,
    pub etag: &'static str,
}

/// Everything the build script prepared: the build's version, the two pages with their asset
/// links pointed at it, and every file.
#[derive(Debug, Clone, Copy)]
pub struct BuiltAssets {
    pub version: &'static str,
    pub index: BuiltFile,
    pub not_found: BuiltFile,
    pub files: &'static [BuiltFile],
}

/// Where the UI signs in: Cognito managed login with the authorization code flow and PKCE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// `https://DOMAIN.auth.REGION.amazoncognito.com`.
    pub domain: String,
    /// The public app client (no secret).
    pub client_id: String,
}

/// The UI's settings: the stage it shows and how it signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    pub stage: String,
    /// `None` without JWT auth (the local stack, dev with `AuthMode=single-person-unsafe`).
    pub sign_in: Option<SignIn>,
    /// The local stack's people the page lets one switch between (local-people mode only).
    pub local_people: Vec<crate::authz::identity::LocalPerson>,
    /// The documents bucket's origin (`https://BUCKET.s3.REGION.amazonaws.com`), where the page
    /// sends reference files; none, and the policy allows no upload anywhere.
    pub documents_origin: Option<String>,
    /// The live channel's origin (`wss://API.execute-api.REGION.amazonaws.com`); none locally,
    /// where the page's own origin serves it.
    pub live_origin: Option<String>,
}

impl WebConfig {
    pub fn from_env() -> std::result::Result<Self, MissingVariable> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// With `AIPM_AUTH_MODE=jwt` the Cognito domain and client id are required.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Self, MissingVariable> {
        let value = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
        let required = |name: &'static str| value(name).ok_or(MissingVariable(name));
        let stage = required(vars::STAGE)?;
        let sign_in = match value(vars::AUTH_MODE).as_deref() {
            Some("jwt") => Some(SignIn {
                domain: required(vars::COGNITO_DOMAIN)?
                    .trim_end_matches('/')
                    .to_owned(),
                client_id: required(vars::COGNITO_CLIENT_ID)?,
            }),
            _ => None,
        };
        // The same file the API's functions read; unreadable, the page simply offers no switch
        // and the API answers for the first person as always.
        let local_people = match value(vars::AUTH_MODE).as_deref() {
            Some("local-people") => crate::authz::identity::read_local_people(
                &value(vars::LOCAL_PEOPLE_FILE).unwrap_or_default(),
            )
            .unwrap_or_default(),
            _ => Vec::new(),
        };
        // Only an origin goes into the policy: a value with anything else in it is dropped.
        let origin_of = |name: &'static str, schemes: [&str; 2]| {
            value(name)
                .and_then(|origin| url::Url::parse(origin.trim()).ok())
                .filter(|url| schemes.contains(&url.scheme()) && url.host_str().is_some())
                .map(|url| url.origin().ascii_serialization())
        };
        let documents_origin = origin_of(vars::DOCUMENTS_ORIGIN, ["http", "https"]);
        let live_origin = origin_of(vars::LIVE_SOCKET_URL, ["ws", "wss"]);
        Ok(Self {
            stage,
            sign_in,
            local_people,
            documents_origin,
            live_origin,
        })
    }

    fn to_json(&self, version: &str) -> serde_json::Value {
        let sign_in = self.sign_in.as_ref().map(|sign_in| {
            json!({
                "authorizeUrl": format!("{}/oauth2/authorize", sign_in.domain),
                "tokenUrl": format!("{}/oauth2/token", sign_in.domain),
                "logoutUrl": format!("{}/logout", sign_in.domain),
                "clientId": sign_in.client_id,
                "scopes": ["openid", "email", "profile"],
            })
        });
        json!({
            "stage": self.stage,
            "authMode": if self.sign_in.is_some() {
                "jwt"
            } else if !self.local_people.is_empty() {
                "local-people"
            } else {
                "single-person-unsafe"
            },
            "localPeople": self.local_people.iter().map(|person| json!({
                "sub": person.sub,
                "name": person.name,
            })).collect::<Vec<_>>(),
            "signIn": sign_in,
            "version": version,
        })
    }
}

/// A response body: borrowed from the binary for the built files, owned for config.json.
struct Prepared {
    content_type: &'static str,
    bytes: Cow<'static, [u8]>,
    /// Only when it is smaller than the plain bytes.
    gzip: Option<Cow<'static, [u8]>>,
    etag: Cow<'static, str>,
}

impl From<prepare::PreparedBody> for Prepared {
    fn from(body: prepare::PreparedBody) -> Self {
        Self {
            content_type: body.content_type,
            bytes: Cow::Owned(body.bytes),
            gzip: body.gzip.map(Cow::Owned),
            etag: Cow::Owned(body.etag),
        }
    }
}

impl From<&BuiltFile> for Prepared {
    fn from(file: &BuiltFile) -> Self {
        Self {
            content_type: file.content_type,
            bytes: Cow::Borrowed(file.bytes),
            gzip: file.gzip.map(Cow::Borrowed),
            etag: Cow::Borrowed(file.etag),
        }
    }
}

/// What the browser may cache: versioned assets for a year, everything else revalidated.
#[derive(Clone, Copy)]
enum Caching {
    Immutable,
    Revalidate,
}

/// Serves the UI. Built once per cold start from the prepared files and the settings.
pub struct Web {
    files: Vec<(&'static str, Prepared)>,
    index: Prepared,
    config: Prepared,
    not_found: Prepared,
    version: Cow<'static, str>,
    /// Only the page's own origin, and the sign-in domain when there is one.
    content_security_policy: HeaderValue,
}

/// The page may talk to its own origin and, to trade a sign-in code for tokens, to the
/// configured sign-in domain only.
fn content_security_policy(config: &WebConfig) -> HeaderValue {
    let sign_in = config
        .sign_in
        .as_ref()
        .map(|sign_in| format!(" {}", sign_in.domain))
        .unwrap_or_default();
    let documents: String = [&config.documents_origin, &config.live_origin]
        .into_iter()
        .flatten()
        .map(|origin| format!(" {origin}"))
        .collect();
    let policy = format!(
        "default-src 'self'; connect-src 'self'{sign_in}{documents}; img-src 'self' data:; \
         style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'{sign_in}"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"))
}

/// The page served when `web/` has no `index.html` / `404.html`.
const FALLBACK_INDEX: &str = "<!doctype html><title>AIPM</title>";
const FALLBACK_NOT_FOUND: &str =
    "<!doctype html><title>Not found</title><p>Not found. <a href=\"/\">AIPM</a></p>";

/// config.json, the one body that depends on the function's settings rather than the build.
fn config_body(config: &WebConfig, version: &str) -> Prepared {
    prepare::prepare(
        "config.json",
        config.to_json(version).to_string().into_bytes(),
    )
    .into()
}

impl Web {
    /// From the files the build script prepared: nothing is hashed or compressed at cold start.
    pub fn new(built: &BuiltAssets, config: &WebConfig) -> Self {
        Self {
            files: built
                .files
                .iter()
                .map(|file| (file.name, Prepared::from(file)))
                .collect(),
            index: (&built.index).into(),
            config: config_body(config, built.version),
            not_found: (&built.not_found).into(),
            version: Cow::Borrowed(built.version),
            content_security_policy: content_security_policy(config),
        }
    }

    /// From the files as they are in `web/`, prepared now (what the build script does).
    pub fn from_sources(assets: &[Asset], config: &WebConfig) -> Self {
        let version = prepare::version(assets.iter().map(|asset| (asset.name, asset.bytes)));
        let page = |name: &str, fallback: &str| {
            let text = assets
                .iter()
                .find(|asset| asset.name == name)
                .map_or(fallback.as_bytes(), |asset| asset.bytes);
            Prepared::from(prepare::prepare(
                name,
                prepare::page_with_asset_base(text, &version),
            ))
        };
        Self {
            files: assets
                .iter()
                .map(|asset| {
                    let body = prepare::prepare(asset.name, asset.bytes.to_vec());
                    (asset.name, body.into())
                })
                .collect(),
            index: page("index.html", FALLBACK_INDEX),
            not_found: page("404.html", FALLBACK_NOT_FOUND),
            config: config_body(config, &version),
            content_security_policy: content_security_policy(config),
            version: Cow::Owned(version),
        }
    }

    /// The content hash in every asset URL of this build.
    pub fn version(&self) -> &str {
        &self.version
    }

    fn find(&self, path: &str) -> Option<(&Prepared, Caching)> {
        match path {
            "/" | "/index.html" => return Some((&self.index, Caching::Revalidate)),
            "/config.json" => return Some((&self.config, Caching::Revalidate)),
            _ => {}
        }
        let rest = path.strip_prefix("/assets/")?;
        let (version, name) = rest.split_once('/')?;
        let (_, file) = self.files.iter().find(|(file, _)| *file == name)?;
        // An old page asking for an asset of a newer build gets the file, not a year of caching.
        let caching = if version == self.version {
            Caching::Immutable
        } else {
            Caching::Revalidate
        };
        Some((file, caching))
    }

    fn respond(&self, request: &Request) -> Response<Body> {
        let path = request.uri().path();
        let (file, caching, status) = match self.find(path) {
            Some((file, caching)) => (file, caching, StatusCode::OK),
            None => (&self.not_found, Caching::Revalidate, StatusCode::NOT_FOUND),
        };
        let mut response = Response::new(Body::Empty);
        let headers = response.headers_mut();
        let cache_control = match caching {
            Caching::Immutable => "public, max-age=31536000, immutable",
            Caching::Revalidate => "no-cache",
        };
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            self.content_security_policy.clone(),
        );
        if let Ok(etag) = HeaderValue::from_str(&file.etag) {
            headers.insert(header::ETAG, etag);
        }
        let matches = request
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|tags| {
                tags.split(',')
                    .any(|tag| tag.trim() == file.etag.as_ref() || tag.trim() == "*")
            });
        if status == StatusCode::OK && matches {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return response;
        }
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        );
        let accepts_gzip = request
            .headers()
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|coding| {
                let mut parts = coding.split(';');
                parts.next().is_some_and(|name| name.trim() == "gzip")
                    && !parts.any(|parameter| parameter.replace(' ', "") == "q=0")
            });
        match (&file.gzip, accepts_gzip) {
            (Some(gzip), true) => {
                response
                    .headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                *response.body_mut() = Body::Binary(gzip.to_vec());
            }
            _ => *response.body_mut() = Body::Binary(file.bytes.to_vec()),
        }
        response
    }
}

impl Operation for Web {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        Ok(self.respond(&request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::test_support::request;
    use lambda_http::http::Method;
    use std::io::Read;

    const ASSETS: &[Asset] = &[
        Asset {
            name: "index.html",
            bytes: b"<!doctype html><script type=module src=\"{{ASSET_BASE}}/app.js\"></script>",
        },
        Asset {
            name: "app.js",
            bytes: b"export const greeting = 'hello hello hello hello hello hello hello hello';",
        },
        Asset {
            name: "app.css",
            bytes: b"body { margin: 0 }",
        },
    ];

    fn local() -> WebConfig {
        WebConfig {
            stage: "local".into(),
            sign_in: None,
            local_people: Vec::new(),
            documents_origin: None,
            live_origin: None,
        }
    }

    fn get(web: &Web, path: &str, headers: &[(&str, &str)]) -> Response<Body> {
        let mut request = request(Method::GET, path, "");
        for (name, value) in headers {
            request.headers_mut().insert(
                lambda_http::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        web.respond(&request)
    }

    fn header<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .map_or("", |value| value.to_str().unwrap())
    }

    #[test]
    fn files_have_their_content_types_and_the_page_points_at_versioned_assets() {
        let web = Web::from_sources(ASSETS, &local());
        let page = get(&web, "/", &[]);
        assert_eq!(page.status(), 200);
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&page, "cache-control"), "no-cache");
        let Body::Binary(html) = page.body() else {
            panic!("a binary body")
        };
        let html = String::from_utf8(html.clone()).unwrap();
        let script = format!("/assets/{}/app.js", web.version());
        assert!(html.contains(&script), "{html}");

        let js = get(&web, &script, &[]);
        assert_eq!(
            header(&js, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            header(&js, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        let css = get(&web, &format!("/assets/{}/app.css", web.version()), &[]);
        assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");
        let stale = get(&web, "/assets/0123456789ab/app.js", &[]);
        assert_eq!(stale.status(), 200);
        assert_eq!(header(&stale, "cache-control"), "no-cache");
    }

    #[test]
    fn a_matching_etag_gets_304_and_another_the_file() {
        let web = Web::from_sources(ASSETS, &local());
        let path = format!("/assets/{}/app.js", web.version());
        let first = get(&web, &path, &[]);
        let etag = header(&first, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10);
        let again = get(&web, &path, &[("if-none-match", &etag)]);
        assert_eq!(again.status(), 304);
        assert!(matches!(again.body(), Body::Empty));
        let other = get(&web, &path, &[("if-none-match", "\"something-else\"")]);
        assert_eq!(other.status(), 200);
    }

    #[test]
    fn gzip_only_when_accepted_and_it_decodes_to_the_file() {
        let web = Web::from_sources(ASSETS, &local());
        let path = format!("/assets/{}/app.js", web.version());
        let plain = get(&web, &path, &[]);
        assert_eq!(header(&plain, "content-encoding"), "");
        let zipped = get(&web, &path, &[("accept-encoding", "br, gzip;q=0.8")]);
        assert_eq!(header(&zipped, "content-encoding"), "gzip");
        let Body::Binary(bytes) = zipped.body() else {
            panic!("a binary body")
        };
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, ASSETS[1].bytes);
        let refused = get(&web, &path, &[("accept-encoding", "gzip;q=0")]);
        assert_eq!(header(&refused, "content-encoding"), "");
    }

    #[test]
    fn an_unknown_path_gets_the_404_page() {
        let web = Web::from_sources(ASSETS, &local());
        for path in ["/nope", "/assets/x/missing.js", "/assets/app.js"] {
            let response = get(&web, path, &[]);
            assert_eq!(response.status(), 404, "{path}");
            assert_eq!(
                header(&response, "content-type"),
                "text/html; charset=utf-8"
            );
        }
    }

    fn config_json(config: &WebConfig) -> serde_json::Value {
        let web = Web::from_sources(ASSETS, config);
        let response = get(&web, "/config.json", &[]);
        assert_eq!(header(&response, "content-type"), "application/json");
        let Body::Binary(bytes) = response.body() else {
            panic!("a binary body")
        };
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn config_says_the_stage_and_how_to_sign_in_for_each_auth_mode() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let none = WebConfig::from_lookup(env(&[("AIPM_STAGE", "dev")])).unwrap();
        let json = config_json(&none);
        assert_eq!(json["stage"], "dev");
        assert_eq!(json["authMode"], "single-person-unsafe");
        assert_eq!(json["localPeople"], serde_json::json!([]));
        assert!(json["signIn"].is_null());

        let jwt = WebConfig::from_lookup(env(&[
            ("AIPM_STAGE", "prod"),
            ("AIPM_AUTH_MODE", "jwt"),
            (
                "AIPM_COGNITO_DOMAIN",
                "https://aipm.auth.eu-west-1.amazoncognito.com/",
            ),
            ("AIPM_COGNITO_CLIENT_ID", "client123"),
        ]))
        .unwrap();
        let json = config_json(&jwt);
        assert_eq!(json["authMode"], "jwt");
        assert_eq!(
            json["signIn"]["authorizeUrl"],
            "https://aipm.auth.eu-west-1.amazoncognito.com/oauth2/authorize"
        );
        assert_eq!(json["signIn"]["clientId"], "client123");

        let page = get(&Web::from_sources(ASSETS, &jwt), "/", &[]);
        let policy = header(&page, "content-security-policy");
        assert!(
            policy.contains("connect-src 'self' https://aipm.auth.eu-west-1.amazoncognito.com;"),
            "{policy}"
        );
        let local = get(&Web::from_sources(ASSETS, &none), "/", &[]);
        assert!(header(&local, "content-security-policy").contains("connect-src 'self';"));

        let with_bucket = WebConfig::from_lookup(env(&[
            ("AIPM_STAGE", "dev"),
            (
                "AIPM_DOCUMENTS_ORIGIN",
                "https://docs-1.s3.eu-west-1.amazonaws.com/path",
            ),
        ]))
        .unwrap();
        let page = get(&Web::from_sources(ASSETS, &with_bucket), "/", &[]);
        assert!(
            header(&page, "content-security-policy")
                .contains("connect-src 'self' https://docs-1.s3.eu-west-1.amazonaws.com;"),
            "only the origin, never a path"
        );
        let injected = WebConfig::from_lookup(env(&[
            ("AIPM_STAGE", "dev"),
            ("AIPM_DOCUMENTS_ORIGIN", "x; script-src *"),
        ]))
        .unwrap();
        assert_eq!(injected.documents_origin, None);
        let with_live = WebConfig::from_lookup(env(&[
            ("AIPM_STAGE", "dev"),
            (
                "AIPM_LIVE_SOCKET_URL",
                "wss://abc.execute-api.eu-west-1.amazonaws.com/live",
            ),
            (
                "AIPM_DOCUMENTS_ORIGIN",
                "https://docs-1.s3.eu-west-1.amazonaws.com",
            ),
        ]))
        .unwrap();
        let page = get(&Web::from_sources(ASSETS, &with_live), "/", &[]);
        assert!(
            header(&page, "content-security-policy").contains(
                "connect-src 'self' https://docs-1.s3.eu-west-1.amazonaws.com \
                 wss://abc.execute-api.eu-west-1.amazonaws.com;"
            ),
            "the live channel's origin, never its path"
        );

        let missing =
            WebConfig::from_lookup(env(&[("AIPM_STAGE", "prod"), ("AIPM_AUTH_MODE", "jwt")]));
        assert_eq!(missing.unwrap_err().0, "AIPM_COGNITO_DOMAIN");
    }
}
