//! `aipm-local`: serves the local stack's API the way API Gateway and Lambda would, for
//! `scripts/local-up` (see `aipm_local::gateway`).
//!
//! aipm-local --port 9000 --env-file FILE --log-dir DIR [--max-sandboxes 8]

use std::process::ExitCode;

use aipm_local::gateway::{Gateway, GatewaySettings};

fn usage() -> ExitCode {
    eprintln!("usage: aipm-local --port PORT --env-file FILE --log-dir DIR [--max-sandboxes N]");
    ExitCode::from(2)
}

fn read_env_file(path: &str) -> Result<Vec<(String, String)>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.trim().to_owned(), value.to_owned()))
        .collect())
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        arguments
            .iter()
            .position(|argument| argument == flag)
            .and_then(|at| arguments.get(at + 1))
            .cloned()
    };
    let (Some(port), Some(env_file), Some(log_dir)) =
        (value("--port"), value("--env-file"), value("--log-dir"))
    else {
        return usage();
    };
    let environment = match read_env_file(&env_file) {
        Ok(environment) => environment,
        Err(error) => {
            eprintln!("aipm-local: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut settings = GatewaySettings::new(environment, std::path::Path::new(&log_dir));
    settings.request_log = true;
    if let Some(limit) = value("--max-sandboxes").and_then(|n| n.parse().ok()) {
        settings.max_sandboxes = limit;
    }
    let routes = settings.routes.len();
    let listener = match tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("aipm-local: cannot listen on 127.0.0.1:{port}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let gateway = match Gateway::start(settings, listener).await {
        Ok(gateway) => gateway,
        Err(error) => {
            eprintln!("aipm-local: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "aipm-local: {routes} routes on {}; functions' output in {log_dir}/<function>.log",
        gateway.url
    );
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(error) => {
                eprintln!("aipm-local: cannot watch for SIGTERM: {error}");
                return ExitCode::FAILURE;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(gateway);
    ExitCode::SUCCESS
}
