//! Where each function's cold start goes: the function's own timings of its start-up phases
//! (`AIPM_COLD_START_BREAKDOWN`, shared/src/startup.rs) next to the harness's ready time, so
//! that what happens before `main` and in the runtime client is the difference. Medians of
//! five starts.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use aipm_tests::Backend;
use aipm_tests::runtime_api::RuntimeApi;

use super::{Scenario, percentile, references};

const STARTS: usize = 5;

/// The phases in the order a function reports them.
const PHASES: [&str; 7] = [
    "telemetry",
    "configuration",
    "metrics",
    "sdk configuration",
    "clients",
    "wiring",
    "first request",
];

pub struct Breakdown {
    function: &'static str,
    ready: Duration,
    /// Median milliseconds per phase, in [`PHASES`] order (0 for a phase a function skips).
    phases: Vec<f64>,
}

fn parse(log: &str) -> Option<Vec<(String, f64)>> {
    log.lines().rev().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let phases = value["coldStartBreakdownMs"].as_array()?;
        Some(
            phases
                .iter()
                .filter_map(|pair| Some((pair[0].as_str()?.to_owned(), pair[1].as_f64()?)))
                .collect(),
        )
    })
}

/// Five starts of `scenario`'s function with the breakdown on, each answering one event.
pub async fn measure(
    scenario: &Scenario,
    binaries: &Path,
    backend: &Backend,
    runtime: &mut RuntimeApi,
    next: &mut usize,
) -> Option<Breakdown> {
    if references::is_reference(scenario.function) {
        return None;
    }
    let binary = references::executable(binaries, scenario.function);
    let mut environment = backend.environment.clone();
    environment.push(("AIPM_COLD_START_BREAKDOWN".into(), "1".into()));
    environment.push(("AWS_LAMBDA_LOG_LEVEL".into(), "WARN".into()));
    let mut ready = Vec::new();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); PHASES.len()];
    for start in 0..STARTS {
        let log = backend
            .scratch
            .join(format!("breakdown-{}-{start}.log", scenario.function));
        runtime.drain();
        let started = Instant::now();
        let mut child = aipm_tests::runtime_api::spawn_function(
            &binary,
            &environment,
            &runtime.address,
            Some(&log),
        );
        let Some(polled) = runtime.next_poll(Duration::from_secs(30)).await else {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        ready.push(polled - started);
        runtime.invoke(&(scenario.event)(*next)).await;
        *next += 1;
        // The line follows the response; wait for it, briefly.
        let deadline = Instant::now() + Duration::from_secs(3);
        let phases = loop {
            if let Some(phases) = parse(&std::fs::read_to_string(&log).unwrap_or_default()) {
                break Some(phases);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let _ = child.kill();
        let _ = child.wait();
        let phases = phases?;
        for (index, name) in PHASES.iter().enumerate() {
            let took = phases
                .iter()
                .find(|(phase, _)| phase == name)
                .map_or(0.0, |(_, took)| *took);
            samples[index].push(took);
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    Some(Breakdown {
        function: scenario.function,
        ready: percentile(&mut ready, 0.5),
        phases: samples.iter_mut().map(median).collect(),
    })
}

pub fn write(report: &mut String, breakdowns: &[Breakdown]) {
    if breakdowns.is_empty() {
        return;
    }
    let _ = writeln!(
        report,
        "\n## Where a cold start goes (ms, medians of {STARTS} starts)\n\n*Before main* is the harness's ready time less the phases the function timed up to `wiring`: loading the binary, the Rust runtime, and the Lambda runtime client's first poll. *First request* is the handler's first event, connections included.\n"
    );
    let _ = write!(report, "| function | ready | before main |");
    for phase in PHASES {
        let _ = write!(report, " {phase} |");
    }
    let _ = writeln!(report);
    let _ = writeln!(report, "|---|{}", "---:|".repeat(PHASES.len() + 2));
    for breakdown in breakdowns {
        let ready = breakdown.ready.as_secs_f64() * 1000.0;
        let started: f64 = breakdown.phases[..PHASES.len() - 1].iter().sum();
        let _ = write!(
            report,
            "| {} | {ready:.2} | {:.2} |",
            breakdown.function,
            (ready - started).max(0.0)
        );
        for took in &breakdown.phases {
            let _ = write!(report, " {took:.2} |");
        }
        let _ = writeln!(report);
    }
}
