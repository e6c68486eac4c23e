//! Prepares every file of `web/` at build time, so a cold start only points at bytes in the
//! binary: writes each body and its gzip form to `$OUT_DIR`, and `$OUT_DIR/assets.rs`, a
//! `BuiltAssets` with the build's version, content types and ETags. The preparation itself is the
//! domain crate's (`handlers/web/prepare.rs`), included here so both agree byte for byte.

use std::path::{Path, PathBuf};

#[path = "../../shared/src/handlers/web/prepare.rs"]
mod prepare;

/// Writes one body (and its gzip form) to `out` and answers its `BuiltFile` expression.
fn built_file(out: &Path, name: &str, served_as: &str, bytes: Vec<u8>) -> String {
    let body = prepare::prepare(name, bytes);
    let write = |file: &str, bytes: &[u8]| {
        let path = out.join(file);
        std::fs::write(&path, bytes)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
        format!("include_bytes!({:?})", path.display().to_string())
    };
    let bytes = write(&format!("{served_as}.body"), &body.bytes);
    let gzip = match &body.gzip {
        Some(gzip) => format!("Some({})", write(&format!("{served_as}.gz"), gzip)),
        None => "None".to_owned(),
    };
    format!(
        "aipm::handlers::web::BuiltFile {{ name: {name:?}, content_type: {:?}, bytes: {bytes}, \
         gzip: {gzip}, etag: {:?} }}",
        body.content_type, body.etag
    )
}

fn main() {
    let web = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../../web")
        .canonicalize()
        .unwrap_or_else(|error| panic!("the web/ folder of the repository: {error}"));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed={}", web.display());
    println!("cargo:rerun-if-changed=../../shared/src/handlers/web/prepare.rs");
    let mut names: Vec<String> = std::fs::read_dir(&web)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", web.display()))
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    let files: Vec<(String, Vec<u8>)> = names
        .into_iter()
        .map(|name| {
            let path = web.join(&name);
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            (name, bytes)
        })
        .collect();
    let version = prepare::version(
        files
            .iter()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
    );
    let page = |name: &str| {
        let (_, bytes) = files
            .iter()
            .find(|(file, _)| file == name)
            .unwrap_or_else(|| panic!("web/{name} is missing"));
        built_file(
            &out,
            name,
            &format!("page-{name}"),
            prepare::page_with_asset_base(bytes, &version),
        )
    };
    let mut code = format!(
        "aipm::handlers::web::BuiltAssets {{\n    version: {version:?},\n    index: {},\n    \
         not_found: {},\n    files: &[\n",
        page("index.html"),
        page("404.html")
    );
    for (name, bytes) in &files {
        code.push_str(&format!(
            "        {},\n",
            built_file(&out, name, &format!("file-{name}"), bytes.clone())
        ));
    }
    code.push_str("    ],\n}\n");
    let path = out.join("assets.rs");
    std::fs::write(&path, code)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
}
