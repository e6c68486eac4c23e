//! The authorization figures: the policy's decision alone (the compiled table) and the gate's
//! whole in-process path (caller, membership from the in-memory directory, decision), p50 and
//! p99, so the budget "decision p99 ≤ 100 µs" has a measurement behind it.

use std::fmt::Write;
use std::time::{Duration, Instant};

use aipm::authz::gate::ProjectRef;
use aipm::authz::{Action, Facts, Standing, decide};
use lambda_http::{Body, Request};

use super::percentile;

const DECISIONS: usize = 200_000;
const ADMISSIONS: usize = 20_000;

fn ns(duration: Duration) -> String {
    duration.as_nanos().to_string()
}

/// Appends the section to the report and returns the gate's p99.
pub async fn section(report: &mut String) -> Duration {
    let cells: Vec<(Standing, Action, Facts)> = Standing::ALL
        .iter()
        .flat_map(|standing| {
            Action::ALL.iter().flat_map(move |action| {
                Facts::ALL
                    .iter()
                    .map(move |facts| (*standing, *action, *facts))
            })
        })
        .collect();
    let mut decisions = Vec::with_capacity(DECISIONS);
    let mut allowed = 0usize;
    for n in 0..DECISIONS {
        let (standing, action, facts) = cells[n % cells.len()];
        let began = Instant::now();
        let decision = std::hint::black_box(decide(std::hint::black_box(standing), action, facts));
        decisions.push(began.elapsed());
        allowed += usize::from(decision.allowed);
    }

    let gate = aipm::adapters::memory_projects::local_gate();
    let people = [
        "local-viewer",
        "local-contributor",
        "local-admin",
        "local-outsider",
    ];
    let mut admissions = Vec::with_capacity(ADMISSIONS);
    for n in 0..ADMISSIONS {
        let mut request = Request::new(Body::Empty);
        *request.uri_mut() = "/stories/1/generate-code".parse().expect("a path");
        request.headers_mut().insert(
            aipm::authz::identity::LOCAL_PERSON_HEADER,
            people[n % people.len()].parse().expect("a header value"),
        );
        let began = Instant::now();
        let answer = gate
            .admit(&request, ProjectRef::Default, Action::GenerateCode)
            .await;
        admissions.push(began.elapsed());
        std::hint::black_box(answer.is_ok());
    }
    let (d50, d99) = (
        percentile(&mut decisions, 0.50),
        percentile(&mut decisions, 0.99),
    );
    let (a50, a99) = (
        percentile(&mut admissions, 0.50),
        percentile(&mut admissions, 0.99),
    );
    eprintln!(
        "  decision p50 {} ns, p99 {} ns; gate p50 {} ns, p99 {} ns",
        ns(d50),
        ns(d99),
        ns(a50),
        ns(a99)
    );
    let _ = writeln!(
        report,
        "\n## Authorization (in process)\n\n\
         The policy's decision is a lookup in the table compiled from policy/aipm.cedar \
         ({} cells, {allowed} of {DECISIONS} lookups allowed); the gate adds finding the caller, \
         the membership read (here the in-memory directory: no I/O) and the audit entry of each \
         refusal. On AWS the membership read is one DynamoDB BatchGetItem per request.\n\n\
         | path | calls | p50 ns | p99 ns |\n|---|---:|---:|---:|\n\
         | decide (the table) | {DECISIONS} | {} | {} |\n\
         | gate.admit (caller, membership, decision, audit of refusals) | {ADMISSIONS} | {} | {} |\n\n\
         Target: decision p99 ≤ 100 µs ({}).",
        cells.len(),
        ns(d50),
        ns(d99),
        ns(a50),
        ns(a99),
        if d99 <= Duration::from_micros(100) {
            "met"
        } else {
            "NOT met"
        }
    );
    a99
}
