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

/// Where the functions' settings point the AWS clients locally: the emulator's endpoint, the
/// region and the stand-in credentials, for the feeds that read its queues and streams.
pub struct EmulatorAccess {
    pub endpoint: String,
    pub region: String,
    pub credentials: aws_sdk_sqs::config::Credentials,
}

impl EmulatorAccess {
    /// `None` when the settings name no emulator (`AWS_ENDPOINT_URL`).
    pub fn from_settings(environment: &[(String, String)]) -> Option<Self> {
        let setting = |name: &str| {
            environment
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        Some(Self {
            endpoint: setting("AWS_ENDPOINT_URL")?,
            region: setting("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
            credentials: aws_sdk_sqs::config::Credentials::new(
                setting("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "local".into()),
                setting("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "local".into()),
                None,
                None,
                "local stack",
            ),
        })
    }
}

/// The repository this crate is built from.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}
