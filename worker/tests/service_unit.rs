//! deploy/aipm-worker.service against the worker it runs: on stop the worker alone gets SIGTERM
//! and has time to let its agents finish or hand their tasks back, and the unit passes
//! scripts/check-worker-unit (systemd-analyze verify, exposure at most 4.0).

use std::collections::HashMap;
use std::time::Duration;

use aipm_tests::repo_root;

/// The unit's `[Service]` settings, last one winning as in systemd.
fn service_settings(text: &str) -> HashMap<String, String> {
    let mut section = String::new();
    let mut settings = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if section == "[Service]"
            && !line.starts_with('#')
            && let Some((key, value)) = line.split_once('=')
        {
            settings.insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    settings
}

#[test]
fn stopping_signals_the_worker_alone_and_waits_past_its_grace() {
    let text = std::fs::read_to_string(repo_root().join("deploy/aipm-worker.service")).unwrap();
    let unit = service_settings(&text);
    assert_eq!(
        unit["KillMode"], "mixed",
        "control-group would SIGTERM the agents together with the worker"
    );
    assert_eq!(unit["KillSignal"], "SIGTERM");
    let stop_timeout = Duration::from_secs(unit["TimeoutStopSec"].parse().unwrap());
    let env = [
        ("AIPM_STAGE", "prod"),
        ("AIPM_STORIES_TABLE", "s"),
        ("AIPM_ACCEPTANCE_TESTS_TABLE", "a"),
        ("AIPM_CODE_TASKS_TABLE", "c"),
        ("AIPM_CODE_TASKS_QUEUE_URL", "q"),
        ("AIPM_LOCAL_GIT_REPOSITORY", "/srv/repo.git"),
        ("AIPM_AGENT_COMMAND", "agent"),
    ];
    let defaults = aipm_worker::config::WorkerConfig::from_lookup(|name| {
        env.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    })
    .unwrap();
    // Grace, then the agents' own SIGTERM → SIGKILL, then the hand-back's writes.
    let needed = defaults.shutdown_grace + aipm_worker::agent::STOP_GRACE + Duration::from_secs(30);
    assert!(
        stop_timeout >= needed,
        "TimeoutStopSec={stop_timeout:?} leaves no time to hand tasks back (needs {needed:?})"
    );
    assert_ne!(unit["User"], "root");
    assert_eq!(
        unit["AmbientCapabilities"],
        "CAP_SETUID CAP_SETGID CAP_CHOWN CAP_KILL"
    );
    assert_eq!(unit["CapabilityBoundingSet"], unit["AmbientCapabilities"]);
    assert_eq!(unit["UMask"], "0077", "the worker's files are its own");
    assert_eq!(unit["ProtectProc"], "invisible");
}

fn check(unit: &std::path::Path) -> std::process::Output {
    std::process::Command::new(repo_root().join("scripts/check-worker-unit"))
        .arg(unit)
        .output()
        .expect("scripts/check-worker-unit runs")
}

#[test]
fn the_unit_verifies_and_its_exposure_is_at_most_4() {
    let output = check(&repo_root().join("deploy/aipm-worker.service"));
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    let exposure: f64 = report
        .lines()
        .find_map(|line| line.strip_prefix("aipm-worker.service: exposure "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|figure| figure.parse().ok())
        .unwrap_or_else(|| panic!("no figure in {report}"));
    println!("exposure {exposure}");
    assert!(exposure <= 4.0, "{report}");

    // The same unit without its hardening is what the issue found (8.5): the check fails.
    let text = std::fs::read_to_string(repo_root().join("deploy/aipm-worker.service")).unwrap();
    let kept = [
        "[",
        "Description",
        "After",
        "Wants",
        "Type",
        "User",
        "Group",
        "EnvironmentFile",
        "ExecStart",
        "KillMode",
        "KillSignal",
        "TimeoutStopSec",
        "Restart",
        "StateDirectory",
        "WorkingDirectory",
        "WantedBy",
    ];
    let bare: String = text
        .lines()
        .filter(|line| kept.iter().any(|start| line.starts_with(start)))
        .map(|line| format!("{line}\n"))
        .collect();
    let scratch = aipm_tests::temp_dir("unit");
    let bare_unit = scratch.join("aipm-worker.service");
    std::fs::write(&bare_unit, bare).unwrap();
    let output = check(&bare_unit);
    assert!(!output.status.success(), "an unhardened unit passed");
    assert!(String::from_utf8_lossy(&output.stderr).contains("more exposed than 4.0"));
}
