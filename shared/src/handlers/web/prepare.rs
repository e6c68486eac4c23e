//! How the UI's files become response bodies (content type, gzip form, ETag, the build's
//! version): used by the web function's build script, so a cold start finds them ready, and by
//! the domain crate for config.json and tests. Only std, sha2 and flate2, as a build script has.

use std::io::Write;

use sha2::{Digest, Sha256};

/// Marks in `index.html` and `404.html` that become `/assets/<version>`.
pub const ASSET_BASE_MARK: &str = "{{ASSET_BASE}}";

/// A response body ready to serve.
pub struct PreparedBody {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    /// Only when it is smaller than the plain bytes.
    pub gzip: Option<Vec<u8>>,
    pub etag: String,
}

pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The content hash of every file (names included) that goes into each asset URL, so a new
/// build never meets a year-old cached copy.
pub fn version<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut hasher = Sha256::new();
    for (name, bytes) in files {
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    hex(&hasher.finalize())[..12].to_owned()
}

/// A page with its asset links pointed at this build's versioned URLs.
pub fn page_with_asset_base(text: &[u8], version: &str) -> Vec<u8> {
    String::from_utf8_lossy(text)
        .replace(ASSET_BASE_MARK, &format!("/assets/{version}"))
        .into_bytes()
}

pub fn prepare(name: &str, bytes: Vec<u8>) -> PreparedBody {
    let etag = format!("\"{}\"", &hex(&Sha256::digest(&bytes))[..20]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let gzip = encoder
        .write_all(&bytes)
        .ok()
        .and_then(|()| encoder.finish().ok())
        .filter(|compressed| compressed.len() < bytes.len());
    PreparedBody {
        content_type: content_type(name),
        bytes,
        gzip,
        etag,
    }
}
