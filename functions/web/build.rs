//! Embeds every file of `web/` in the binary: writes `$OUT_DIR/assets.rs`, a list of
//! `Asset { name, bytes: include_bytes!(…) }`, and rebuilds when a file there changes.

use std::path::PathBuf;

fn main() {
    let web = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../../web")
        .canonicalize()
        .unwrap_or_else(|error| panic!("the web/ folder of the repository: {error}"));
    println!("cargo:rerun-if-changed={}", web.display());
    let mut names: Vec<String> = std::fs::read_dir(&web)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", web.display()))
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    let mut code = String::from("&[\n");
    for name in &names {
        let path = web.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!(
            "    aipm::handlers::web::Asset {{ name: {name:?}, bytes: include_bytes!({:?}) }},\n",
            path.display().to_string()
        ));
    }
    code.push_str("]\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("assets.rs");
    std::fs::write(&out, code)
        .unwrap_or_else(|error| panic!("cannot write {}: {error}", out.display()));
}
