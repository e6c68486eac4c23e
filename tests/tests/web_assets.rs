//! The UI's files as shipped: the one vendored library matches its pinned checksum and carries
//! its licence, every module of ours opens with a comment saying what it is for, and nothing is
//! loaded from anywhere but the page's own origin (no CDN, no build step).

use std::collections::BTreeSet;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

fn web() -> PathBuf {
    aipm_tests::repo_root().join("web")
}

fn files(extension: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = std::fs::read_dir(web())
        .expect("web/ exists")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(extension))
        .map(|name| {
            let text = std::fs::read_to_string(web().join(&name)).expect("a text file");
            (name, text)
        })
        .collect();
    found.sort();
    found
}

#[test]
fn the_vendored_libraries_match_their_pinned_checksums_and_licences() {
    let pinned = std::fs::read_to_string(web().join("vendor.sha256")).expect("web/vendor.sha256");
    let mut named = BTreeSet::new();
    for line in pinned.lines() {
        let (expected, name) = line
            .split_once("  ")
            .expect("sha256sum's format: HASH  FILE");
        let name = name.trim();
        let bytes = std::fs::read(web().join(name)).expect("the vendored file");
        let actual: String = Sha256::digest(&bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(
            actual, expected,
            "{name}: refresh it with scripts/vendor-web, never by hand"
        );
        let licence_file = name.replace(".js", ".LICENSE.txt");
        let licence = std::fs::read_to_string(web().join(&licence_file))
            .unwrap_or_else(|_| panic!("{name} comes with {licence_file}"));
        assert!(
            licence.contains("Permission") && licence.contains("===="),
            "{licence_file} holds the licence text"
        );
        named.insert(name.to_owned());
    }
    // Every vendored file is pinned: none slips in beside the checksums.
    let vendored: BTreeSet<String> = files(".js")
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("vendor-"))
        .collect();
    assert_eq!(vendored, named);
    let htm = std::fs::read_to_string(web().join("vendor-htm-preact.LICENSE.txt")).unwrap();
    assert!(htm.contains("Apache License") && htm.contains("MIT"));
    let d3 = std::fs::read_to_string(web().join("vendor-d3-hierarchy.LICENSE.txt")).unwrap();
    assert!(d3.contains("ISC") || d3.contains("Permission to use, copy, modify"));
}

#[test]
fn every_module_says_what_it_is_for_and_imports_only_its_neighbours() {
    let modules = files(".js");
    let names: BTreeSet<&str> = modules.iter().map(|(name, _)| name.as_str()).collect();
    assert!(names.len() >= 10, "{names:?}");
    for (name, text) in &modules {
        if name.starts_with("vendor-") {
            continue;
        }
        assert!(
            text.starts_with(&format!("// {name} — ")),
            "{name} opens with `// {name} — what it is for`"
        );
        for (_, rest) in text
            .match_indices("from '")
            .map(|(at, _)| text.split_at(at + 6))
        {
            let target = rest.split('\'').next().unwrap_or_default();
            let file = target
                .strip_prefix("./")
                .unwrap_or_else(|| panic!("{name} imports {target}: only ./files of web/"));
            assert!(
                names.contains(file),
                "{name} imports {file}, which is not in web/"
            );
        }
        // A page fetched when first shown is imported by a literal path, checked like the rest.
        for (_, rest) in text
            .match_indices("import(")
            .map(|(at, _)| text.split_at(at + 7))
        {
            let target = rest
                .strip_prefix("'./")
                .and_then(|rest| rest.split_once("')"))
                .map(|(file, _)| file)
                .unwrap_or_else(|| panic!("{name}: a dynamic import names a literal './file.js'"));
            assert!(
                names.contains(target),
                "{name} imports {target}, which is not in web/"
            );
        }
    }
}

#[test]
fn pages_load_nothing_from_another_origin() {
    for (name, text) in files(".html").into_iter().chain(files(".css")) {
        for marker in ["http://", "https://", "//cdn", "@import"] {
            assert!(!text.contains(marker), "{name} refers to {marker}");
        }
    }
}
