//! Where a cold start's time goes, for scripts/bench: with `AIPM_COLD_START_BREAKDOWN` set, the
//! function times each phase from the start of `main` to the end of its first request and writes
//! them as one JSON line to stderr. Unset (always, in AWS) it does nothing but read the variable.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const SETTING: &str = "AIPM_COLD_START_BREAKDOWN";

struct Timeline {
    last: Instant,
    phases: Vec<(&'static str, Duration)>,
    requests: u32,
}

static TIMELINE: OnceLock<Option<Mutex<Timeline>>> = OnceLock::new();

fn timeline() -> Option<&'static Mutex<Timeline>> {
    TIMELINE
        .get_or_init(|| {
            std::env::var_os(SETTING).map(|_| {
                Mutex::new(Timeline {
                    last: Instant::now(),
                    phases: Vec::new(),
                    requests: 0,
                })
            })
        })
        .as_ref()
}

/// Starts the clock: the first thing a function's start-up does.
pub fn begin() {
    let _ = timeline();
}

/// Ends the phase `name`: it took the time since the previous mark.
pub fn mark(name: &'static str) {
    if let Some(timeline) = timeline() {
        let mut timeline = timeline.lock().unwrap_or_else(|poison| poison.into_inner());
        let now = Instant::now();
        let took = now - timeline.last;
        timeline.phases.push((name, took));
        timeline.last = now;
    }
}

/// Records a handled request; after the first, writes the breakdown (milliseconds per phase,
/// in order) to stderr.
pub fn request_handled(took: Duration) {
    let Some(timeline) = timeline() else {
        return;
    };
    let mut timeline = timeline.lock().unwrap_or_else(|poison| poison.into_inner());
    timeline.requests += 1;
    if timeline.requests == 1 {
        timeline.phases.push(("first request", took));
        let phases: Vec<serde_json::Value> = timeline
            .phases
            .iter()
            .map(|(name, took)| serde_json::json!([name, took.as_secs_f64() * 1000.0]))
            .collect();
        eprintln!("{}", serde_json::json!({ "coldStartBreakdownMs": phases }));
    }
}
