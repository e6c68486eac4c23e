//! The live channel under load: 50 sockets open on one project through the local gateway
//! (WebSocket, the socket function, the stream feed and the broadcaster, as `scripts/local-up`
//! runs them), 100 story edits one after another, and every socket's notices counted and timed
//! — from the moment the edit's answer reached its writer to the moment each socket heard of it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use aipm_tests::Backend;
use aipm_tests::live::LiveClient;
use serde_json::json;

use super::{ms, percentile};

const SOCKETS: usize = 50;
const CHANGES: usize = 100;
const PEOPLE: [&str; 4] = [
    "local-admin",
    "local-maintainer",
    "local-contributor",
    "local-viewer",
];

pub async fn section(report: &mut String, binaries: &Path) {
    let backend = Backend::start("bench-live").await;
    let gateway = super::release_gateway(&backend, binaries).await;
    let base = gateway.url.clone();
    let http = reqwest::Client::new();
    let person = aipm::authz::identity::LOCAL_PERSON_HEADER;
    let created: serde_json::Value = http
        .post(format!("{base}/projects/AIPM/stories"))
        .header(person, "local-admin")
        .json(&json!({"title": "Live load", "asA": "PM", "iWant": "notices", "soThat": "we agree"}))
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("a story");
    let id = created["id"].as_u64().expect("an id");

    let mut sockets = Vec::new();
    for n in 0..SOCKETS {
        let client = LiveClient::open(&base, PEOPLE[n % PEOPLE.len()], "AIPM")
            .await
            .unwrap_or_else(|status| panic!("socket {n} refused: {status}"));
        sockets.push(client);
    }

    // One writer, one edit at a time, as people type: each edit's answer is when its writer's
    // page shows it.
    let mut answered: BTreeMap<u64, Instant> = BTreeMap::new();
    let began = Instant::now();
    for n in 0..CHANGES {
        let response = http
            .patch(format!("{base}/projects/AIPM/stories/{id}"))
            .header(person, "local-maintainer")
            .json(&json!({ "title": format!("Live load, edit {n}") }))
            .send()
            .await
            .expect("the API answers");
        let at = Instant::now();
        let story: serde_json::Value = response.json().await.expect("the story");
        let version = story["version"].as_u64().expect("a version");
        answered.insert(version, at);
    }
    let writing = began.elapsed();

    // Every socket's notices, until each has all of them or 30 s pass without one more.
    let mut delays = Vec::new();
    let mut lost = 0;
    let mut duplicates = 0;
    let mut early = 0;
    for socket in &mut sockets {
        let mut heard = BTreeSet::new();
        while heard.len() < CHANGES {
            let Some((at, notice)) = socket.next_within(Duration::from_secs(30)).await else {
                break;
            };
            let Some(version) = notice["version"].as_u64() else {
                continue;
            };
            let Some(sent) = answered.get(&version) else {
                continue;
            };
            if !heard.insert(version) {
                duplicates += 1;
                continue;
            }
            // A notice can beat its writer's answer home; that counts as no delay.
            match at.checked_duration_since(*sent) {
                Some(delay) => delays.push(delay),
                None => {
                    early += 1;
                    delays.push(Duration::ZERO);
                }
            }
        }
        lost += CHANGES - heard.len();
    }
    let deliveries = delays.len();
    let p50 = percentile(&mut delays, 0.5);
    let p99 = percentile(&mut delays, 0.99);
    let max = delays.iter().max().copied().unwrap_or_default();
    let build = binaries
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());

    let _ = writeln!(
        report,
        "\n## Live updates ({SOCKETS} sockets × {CHANGES} changes, {build} functions behind the local gateway)\n"
    );
    let _ = writeln!(
        report,
        "Method: `AIPM_BENCH_SECTION=live`. {SOCKETS} WebSockets on one project through the \
         local gateway (tickets from create-live-ticket, sockets admitted by live-socket), then \
         {CHANGES} title edits of one story by one writer, one after another. Each edit's \
         history entry reaches live-broadcast through the projects table's stream in moto \
         (polled every 50 ms, as the event source mapping is played locally), which posts the \
         notices to every socket through the gateway's `@connections`, up to 50 to a frame. Delay: from the moment the \
         edit's answer reached its writer to the moment a socket received the notice.\n"
    );
    let _ = writeln!(
        report,
        "| sockets | changes | deliveries | lost | duplicates | p50 | p99 | max | writing 100 edits |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|---|---|---|---|");
    let _ = writeln!(
        report,
        "| {SOCKETS} | {CHANGES} | {deliveries} | {lost} | {duplicates} | {} ms | {} ms | {} ms | {:.1} s |",
        ms(p50),
        ms(p99),
        ms(max),
        writing.as_secs_f64()
    );
    let _ = writeln!(
        report,
        "\n{early} notices arrived before their writer's answer (counted as 0 ms). Target: p99 ≤ 1 s locally, 0 lost."
    );
    cost(report);
    drop(sockets);
    drop(gateway);
}

/// What the channel costs a month at 50 people, from list prices and stated habits.
fn cost(report: &mut String) {
    // us-east-1 list prices (USD), as published by AWS; not fetched from this machine.
    const PER_MILLION_MESSAGES: f64 = 1.00;
    const PER_MILLION_CONNECTION_MINUTES: f64 = 0.25;
    const PER_MILLION_LAMBDA_REQUESTS: f64 = 0.20;
    const PER_GB_SECOND_ARM: f64 = 0.000_013_333_4;
    const PER_MILLION_READ_UNITS: f64 = 0.125;
    const PER_MILLION_WRITE_UNITS: f64 = 0.625;
    // Habits: 50 people, each connected 8 hours on 22 working days, making 40 changes a day,
    // every change heard by all 50 (no two changes share a frame), pings every 4 minutes,
    // 5 connects a day each (reloads, reconnects).
    let people = 50.0;
    let days = 22.0;
    let minutes = people * 8.0 * 60.0 * days;
    let changes = people * 40.0 * days;
    let notices = changes * people;
    let pings = people * 15.0 * 8.0 * days;
    let connects = people * 5.0 * days;
    let messages = notices + 2.0 * pings;
    let invocations = changes + pings + 2.0 * connects;
    let gb_seconds = invocations * 0.05 * 0.128;
    // A broadcast's Query reads 50 small sockets (~1.5 read units); a connect writes a ticket
    // and, in one transaction, deletes it and records two items (about 7 write units); a close
    // deletes two (4 in a transaction).
    let read_units = changes * 1.5;
    let write_units = connects * 11.0;
    let rows = [
        (
            "WebSocket messages (notices, pings, pongs)",
            messages,
            messages / 1e6 * PER_MILLION_MESSAGES,
        ),
        (
            "Connection minutes",
            minutes,
            minutes / 1e6 * PER_MILLION_CONNECTION_MINUTES,
        ),
        (
            "Lambda requests and compute (128 MB, ~50 ms)",
            invocations,
            invocations / 1e6 * PER_MILLION_LAMBDA_REQUESTS + gb_seconds * PER_GB_SECOND_ARM,
        ),
        (
            "DynamoDB (live table reads and writes)",
            read_units + write_units,
            read_units / 1e6 * PER_MILLION_READ_UNITS + write_units / 1e6 * PER_MILLION_WRITE_UNITS,
        ),
    ];
    let total: f64 = rows.iter().map(|(_, _, dollars)| dollars).sum();
    let _ = writeln!(
        report,
        "\n### Cost per month at 50 people (list prices, us-east-1)\n\n\
         Assumed: each of 50 people connected 8 h on 22 working days, 40 changes a day each, \
         every change heard by all 50 in a frame of its own (bursts share frames, so this is an \
         upper bound), a ping every 4 minutes, 5 connects a day. Reading the stream from Lambda \
         costs nothing; nothing is billed while nobody is connected but the broadcaster's one \
         invocation per batch of changes.\n"
    );
    let _ = writeln!(report, "| item | units | USD / month |");
    let _ = writeln!(report, "|---|---|---|");
    for (item, units, dollars) in rows {
        let _ = writeln!(report, "| {item} | {units:.0} | {dollars:.2} |");
    }
    let _ = writeln!(report, "| **total** | | **{total:.2}** |");
}
