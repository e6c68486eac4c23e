//! The benchmark's two references, measured in the same run on the same emulator as the
//! functions: the floor (tests/floor, the Lambda runtime client alone, built with the
//! workspace's release profile) and a Node.js 20 + AWS SDK v3 twin of get-story
//! (tests/bench-node, installed by scripts/bench), and the ratios of every function to both.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Figures, Scenario, api_event, ms};

pub const FLOOR: &str = "floor";
pub const NODE_TWIN: &str = "node-get-story";

/// Whether `function` is a reference rather than one of AIPM's functions.
pub fn is_reference(function: &str) -> bool {
    function == FLOOR || function == NODE_TWIN
}

/// The executable that starts `function`: the release binary, or for the Node.js twin the
/// launcher scripts/bench writes (`AIPM_BENCH_NODE`), which `exec`s node on the twin.
pub fn executable(binaries: &Path, function: &str) -> PathBuf {
    if function == NODE_TWIN {
        return std::env::var_os("AIPM_BENCH_NODE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!("AIPM_BENCH_NODE is not set: scripts/bench installs the Node.js twin")
            });
    }
    binaries.join(function)
}

/// Both references answer get-story's event for `story`.
pub fn scenarios(story: u64) -> Vec<Scenario> {
    let path = format!("/stories/{story}");
    [FLOOR, NODE_TWIN]
        .into_iter()
        .map(|function| {
            let path = path.clone();
            Scenario {
                function,
                event: Box::new(move |_| api_event("GET", "/stories/{id}", &path, None, json!({}))),
            }
        })
        .collect()
}

/// The figures measured for `function` in this run, if it was measured.
fn measured<'a>(figures: &'a [Figures], function: &str) -> Option<&'a Figures> {
    figures.iter().find(|figures| figures.function == function)
}

fn ratio(value: f64, base: f64) -> String {
    if base > 0.0 {
        format!("{:.1}×", value / base)
    } else {
        "—".into()
    }
}

/// Each function's ready time, first response and peak RSS against the floor (how many times the
/// floor's) and against the Node.js twin (how many times smaller the function's figure is).
pub fn write_ratios(report: &mut String, figures: &[Figures]) {
    let (Some(floor), Some(node)) = (measured(figures, FLOOR), measured(figures, NODE_TWIN)) else {
        return;
    };
    let secs = |figures: &Figures| {
        (
            figures.ready_median.as_secs_f64(),
            figures.first_response_median.as_secs_f64(),
            figures.peak_rss_kib as f64,
        )
    };
    let (floor_ready, floor_first, floor_rss) = secs(floor);
    let (node_ready, node_first, node_rss) = secs(node);
    let _ = writeln!(
        report,
        "\n## Against the floor and the Node.js twin (same run)\n"
    );
    let _ = writeln!(
        report,
        "References: **floor** (the Lambda runtime client alone, release profile): ready {} ms, first response {} ms, {:.1} MiB; \
         **Node.js 20 + AWS SDK v3 twin of get-story** (its four reads, its answer): ready {} ms, first response {} ms, {:.1} MiB.\n",
        ms(floor.ready_median),
        ms(floor.first_response_median),
        floor_rss / 1024.0,
        ms(node.ready_median),
        ms(node.first_response_median),
        node_rss / 1024.0
    );
    let _ = writeln!(
        report,
        "| function | ready ÷ floor | first response ÷ floor | peak RSS ÷ floor | Node twin ready ÷ this | Node twin first response ÷ this | Node twin RSS ÷ this |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|---:|");
    for figures in figures.iter().filter(|f| !is_reference(f.function)) {
        let (ready, first, rss) = secs(figures);
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {} | {} | {} |",
            figures.function,
            ratio(ready, floor_ready),
            ratio(first, floor_first),
            ratio(rss, floor_rss),
            ratio(node_ready, ready),
            ratio(node_first, first),
            ratio(node_rss, rss)
        );
    }
    if let Some(against_node) = FirstAnswerAgainstNode::of(figures) {
        let _ = writeln!(
            report,
            "\nget-story answers its first request {} sooner than its Node.js twin (target ≥ 20×).",
            against_node.sooner()
        );
        let _ = writeln!(
            report,
            "The emulator's own time in those first requests was {} ms (get-story) and {} ms (the twin), \
             both for the same four reads; it caps the ratio at {}. Less that time, get-story's first answer \
             is {} sooner than the twin's.",
            ms(against_node.get_story.first_emulator),
            ms(against_node.node.first_emulator),
            against_node.emulator_cap(),
            against_node.sooner_less_emulator()
        );
    }
}

/// get-story's first answer against the Node.js twin's, whole and less the emulator's time.
struct FirstAnswerAgainstNode<'a> {
    get_story: &'a Figures,
    node: &'a Figures,
}

impl<'a> FirstAnswerAgainstNode<'a> {
    fn of(figures: &'a [Figures]) -> Option<Self> {
        Some(Self {
            get_story: measured(figures, "get-story")?,
            node: measured(figures, NODE_TWIN)?,
        })
    }

    fn first(figures: &Figures) -> f64 {
        figures.first_response_median.as_secs_f64()
    }

    fn times_sooner(&self) -> f64 {
        Self::first(self.node) / Self::first(self.get_story)
    }

    fn sooner(&self) -> String {
        ratio(Self::first(self.node), Self::first(self.get_story))
    }

    /// The emulator takes DynamoDB requests one at a time and is far slower than DynamoDB, so
    /// its time sets a ceiling on the ratio that neither program can move.
    fn emulator_cap(&self) -> String {
        ratio(
            Self::first(self.node),
            self.get_story.first_emulator.as_secs_f64(),
        )
    }

    fn sooner_less_emulator(&self) -> String {
        ratio(
            Self::first(self.node) - self.node.first_emulator.as_secs_f64(),
            Self::first(self.get_story) - self.get_story.first_emulator.as_secs_f64(),
        )
    }
}

/// The functions that build a GitHub client; the zip target is for the others.
const TALKS_TO_GITHUB: [&str; 4] = [
    "generate-code",
    "github-webhook",
    "request-changes",
    "retry-code-task",
];

/// Functions that never linked the AWS SDK, the bulk the others shed.
const WITHOUT_AWS_SDK: [&str; 1] = ["web"];

/// Each function's zip in the last BENCHMARKS.md written before the work on issue 17 (commit
/// c01b179, run on 2026-12-01 06:02 UTC, release profile of then): the "before" of the zips.
const ZIP_BEFORE_KIB: [(&str, u64); 20] = [
    ("web", 1820),
    ("health-check", 4687),
    ("get-stories", 4633),
    ("get-story", 4710),
    ("create-story", 4682),
    ("update-story", 4812),
    ("delete-story", 4673),
    ("create-acceptance-test", 4629),
    ("update-acceptance-test", 4644),
    ("delete-acceptance-test", 4593),
    ("generate-code", 5476),
    ("get-code-task", 4597),
    ("cancel-code-task", 4682),
    ("draft-story", 5423),
    ("draft-acceptance-test", 5454),
    ("request-invest-review", 4838),
    ("invest-reviewer", 5182),
    ("github-webhook", 5596),
    ("request-changes", 5345),
    ("retry-code-task", 5344),
];

/// DynamoDB requests per warm request in the last BENCHMARKS.md written before authorization
/// (commit 27daf33, 2026-12-02 03:06 UTC): the budget is one more read per request at most.
const CALLS_BEFORE_AUTHORIZATION: [(&str, f64); 19] = [
    ("health-check", 3.0),
    ("get-stories", 1.0),
    ("get-story", 4.0),
    ("create-story", 2.0),
    ("update-story", 4.0),
    ("delete-story", 5.0),
    ("create-acceptance-test", 1.0),
    ("update-acceptance-test", 1.0),
    ("delete-acceptance-test", 1.0),
    ("generate-code", 2.0),
    ("get-code-task", 1.0),
    ("cancel-code-task", 1.0),
    ("draft-story", 3.0),
    ("draft-acceptance-test", 5.0),
    ("request-invest-review", 4.0),
    ("invest-reviewer", 3.0),
    ("github-webhook", 1.0),
    ("request-changes", 3.0),
    ("retry-code-task", 4.0),
];

/// The budget of issue 25 (authorization in): every function's ready within 2.0× the floor,
/// every zip within 4 MiB, and at most one more DynamoDB request than before authorization.
pub fn write_authorization_budget(report: &mut String, figures: &[Figures]) {
    let Some(floor) = measured(figures, FLOOR) else {
        return;
    };
    let functions = || figures.iter().filter(|f| !is_reference(f.function));
    let _ = writeln!(
        report,
        "\n## Authorization's budget (same run)\n\n*Calls before* is the function's DynamoDB \
         requests per warm request in the last run before authorization (commit 27daf33); the \
         budget is one more at most. Functions new with projects have no before.\n\n\
         | function | ready ÷ floor (≤ 2.0×) | zip MiB (≤ 4) | calls before | calls now | more |\n\
         |---|---:|---:|---:|---:|---:|"
    );
    for f in functions() {
        let before = CALLS_BEFORE_AUTHORIZATION
            .iter()
            .find(|(name, _)| *name == f.function)
            .map(|(_, calls)| *calls);
        let (before_text, more) = match before {
            Some(before) => (
                format!("{before:.1}"),
                format!("{:+.1}", f.dynamodb_calls - before),
            ),
            None => ("—".to_owned(), "—".to_owned()),
        };
        let _ = writeln!(
            report,
            "| {} | {} | {:.2} | {before_text} | {:.1} | {more} |",
            f.function,
            ratio(
                f.ready_median.as_secs_f64(),
                floor.ready_median.as_secs_f64()
            ),
            f.zip_bytes as f64 / 1024.0 / 1024.0,
            f.dynamodb_calls,
        );
    }
    let worst = |key: &dyn Fn(&Figures) -> f64| {
        functions()
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .map(|f| (f.function, key(f)))
            .unwrap_or(("—", 0.0))
    };
    let (ready_name, ready) = worst(&|f| f.ready_median.as_secs_f64());
    let (zip_name, zip) = worst(&|f| f.zip_bytes as f64);
    let (calls_name, calls) = worst(&|f| {
        CALLS_BEFORE_AUTHORIZATION
            .iter()
            .find(|(name, _)| *name == f.function)
            .map_or(f64::MIN, |(_, before)| f.dynamodb_calls - before)
    });
    let _ = writeln!(
        report,
        "\n- slowest ready ÷ floor: {} ({ready_name}; target ≤ 2.0×)\n\
         - largest zip: {:.2} MiB ({zip_name}; target ≤ 4 MiB)\n\
         - most DynamoDB requests added per request: {calls:+.1} ({calls_name}; target ≤ +1)",
        ratio(ready, floor.ready_median.as_secs_f64()),
        zip / 1024.0 / 1024.0,
    );
}

/// A function's zip before issue 17's work and now, in KiB.
struct ZipChange {
    before: u64,
    now: u64,
}

impl ZipChange {
    fn of(figures: &Figures) -> Option<Self> {
        ZIP_BEFORE_KIB
            .iter()
            .find(|(name, _)| *name == figures.function)
            .map(|(_, before)| Self {
                before: *before,
                now: figures.zip_bytes / 1024,
            })
    }

    fn share(&self) -> f64 {
        self.now as f64 / self.before as f64
    }
}

/// The functions the zip target is for (those that do not talk to GitHub), with their change.
fn zip_target_functions(figures: &[Figures]) -> impl Iterator<Item = (&Figures, ZipChange)> {
    figures
        .iter()
        .filter(|f| !is_reference(f.function) && !TALKS_TO_GITHUB.contains(&f.function))
        .filter_map(|f| ZipChange::of(f).map(|change| (f, change)))
}

/// Each function's zip now next to its zip before issue 17's work.
pub fn write_zip_change(report: &mut String, figures: &[Figures]) {
    let _ = writeln!(
        report,
        "\n## Zip sizes before and after (issue 17)\n\n*Before* is each function's zip in the last \
         BENCHMARKS.md written before the work on the floor targets (commit c01b179). The target: a \
         function that does not talk to GitHub at most half of its zip then.\n\n\
         | function | talks to GitHub | zip KiB before | zip KiB now | now ÷ before |\n|---|---|---:|---:|---:|"
    );
    for f in figures.iter().filter(|f| !is_reference(f.function)) {
        let Some(change) = ZipChange::of(f) else {
            continue;
        };
        let github = if TALKS_TO_GITHUB.contains(&f.function) {
            "yes"
        } else {
            "no"
        };
        let _ = writeln!(
            report,
            "| {} | {github} | {} | {} | {:.2} |",
            f.function,
            change.before,
            change.now,
            change.share()
        );
    }
}

/// The floor targets, each with the function furthest from it.
pub fn write_targets(report: &mut String, figures: &[Figures]) {
    let (Some(floor), Some(_)) = (measured(figures, FLOOR), measured(figures, NODE_TWIN)) else {
        return;
    };
    let functions = || figures.iter().filter(|f| !is_reference(f.function));
    let worst = |key: fn(&Figures) -> f64| {
        functions()
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .map(|f| (f.function, key(f)))
            .unwrap_or(("—", 0.0))
    };
    let (ready_name, ready) = worst(|f| f.ready_median.as_secs_f64());
    let (rss_name, rss) = worst(|f| f.peak_rss_kib as f64);
    let _ = writeln!(
        report,
        "- slowest median ready ÷ floor: {} ({ready_name}; target ≤ 2.5×)\n\
         - largest peak RSS ÷ floor: {} ({rss_name}; target ≤ 2.5×)",
        ratio(ready, floor.ready_median.as_secs_f64()),
        ratio(rss, floor.peak_rss_kib as f64),
    );
    if let Some(against_node) = FirstAnswerAgainstNode::of(figures) {
        let _ = writeln!(
            report,
            "- get-story's first answer against the Node.js twin's: {} sooner (target ≥ 20×)",
            against_node.sooner()
        );
    }
    let largest_share = zip_target_functions(figures)
        .map(|(f, change)| (f.function, change.share()))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((name, share)) = largest_share {
        let _ = writeln!(
            report,
            "- largest zip now ÷ its zip before, of a function that does not talk to GitHub: {share:.2} \
             ({name}; target ≤ 0.50)"
        );
    }
    write_what_is_left(report, figures, floor);
}

/// For each floor target a function misses, which function and why (issue 17 asks for the why).
fn write_what_is_left(report: &mut String, figures: &[Figures], floor: &Figures) {
    let above_floor = |key: fn(&Figures) -> f64| {
        figures
            .iter()
            .filter(|f| !is_reference(f.function) && key(f) > 2.5 * key(floor))
            .map(|f| f.function)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let slow = above_floor(|f| f.ready_median.as_secs_f64());
    if !slow.is_empty() {
        let _ = writeln!(
            report,
            "- left, ready: {slow} above 2.5× the floor; the cold-start breakdown below shows \
             how much of it is before `main` (loading the binary) and how much is the function's own."
        );
    }
    let heavy = above_floor(|f| f.peak_rss_kib as f64);
    if !heavy.is_empty() {
        let _ = writeln!(
            report,
            "- left, peak RSS: {heavy} above 2.5× the floor (after the warm run); not analysed in \
             this run."
        );
    }
    if let Some(against_node) =
        FirstAnswerAgainstNode::of(figures).filter(|against| against.times_sooner() < 20.0)
    {
        let _ = writeln!(
            report,
            "- left, first answer: get-story {} sooner than the Node.js twin (target ≥ 20×): of its \
             {} ms, {} ms are the emulator's own, four reads get-story makes at once and the \
             emulator takes one at a time; that time alone caps the ratio at {} for any function. \
             Less the emulator's time on both sides, get-story is {} sooner.",
            against_node.sooner(),
            ms(against_node.get_story.first_response_median),
            ms(against_node.get_story.first_emulator),
            against_node.emulator_cap(),
            against_node.sooner_less_emulator()
        );
    }
    for (f, change) in zip_target_functions(figures).filter(|(_, change)| change.share() > 0.5) {
        let why = if WITHOUT_AWS_SDK.contains(&f.function) {
            format!(
                "it never linked the AWS SDK, the bulk the others shed, so its zip was already the \
                 smallest; of its {} KiB the floor (the runtime client alone) is {} KiB, the rest \
                 is its own code and the UI's files built in ({} KiB of sources in web/, with their \
                 gzip forms)",
                change.now,
                floor.zip_bytes / 1024,
                web_sources_kib()
            )
        } else {
            "not analysed in this run".to_owned()
        };
        let _ = writeln!(
            report,
            "- left, zip: {} at {:.2} of its zip before (target ≤ 0.50): {why}.",
            f.function,
            change.share()
        );
    }
}

/// The size of the UI's sources, which the web function carries.
fn web_sources_kib() -> u64 {
    let web = aipm_tests::repo_root().join("web");
    let bytes: u64 = std::fs::read_dir(web)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.metadata().ok())
        .filter(|metadata| metadata.is_file())
        .map(|metadata| metadata.len())
        .sum();
    bytes / 1024
}
