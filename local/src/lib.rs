//! The local stack's gateway (`aipm-local`, what `scripts/local-up` serves): API Gateway's part
//! played on one port — the routes of Cargo.toml's `[workspace.metadata.lambda.watch.router]`,
//! payload 2.0 events, each function in sandboxes behind a loopback Lambda Runtime API — and
//! the queues fed to their consumers as Lambda's event source mappings do.

use std::path::{Path, PathBuf};

pub mod gateway;
pub mod live;
pub mod loopback;
pub mod queue_feed;
pub mod router;
pub mod runtime_api;
pub mod sandbox;
pub mod stream_feed;

/// The repository this crate is built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}
