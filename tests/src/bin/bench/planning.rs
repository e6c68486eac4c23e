//! The planning views in headless Chromium: the mindmap's layout of 5,000 stories, a pan frame
//! with 1,500 stories on the canvas, and the board's filters over 2,000 stories. The stories
//! are made up in the page and put into its store, so what is timed is the page's own code (the
//! same modules the views use), not the API.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use aipm_tests::Backend;
use aipm_tests::browser::Browser;
use serde_json::Value;

use super::{ms, percentile};

const LAYOUT_STORIES: usize = 5_000;
const PAN_STORIES: usize = 1_500;
const BOARD_STORIES: usize = 2_000;
const RUNS: usize = 9;
const PAN_FRAMES: usize = 60;

/// Page script: `make(n)` builds n stories (40 epics, children, grandchildren, a blocker every
/// 25th) with ids far above any real one; `modules()` imports the views' modules from the
/// page's own asset path.
const HELPERS: &str = r"
window.benchMake = (n) => {
  const byId = {};
  const base = 1000000;
  const epics = 40;
  for (let i = 0; i < n; i++) {
    const id = base + i;
    const parentId = i < epics ? null : base + (i < epics * 10 ? i % epics : epics + (i % (epics * 9)));
    const statuses = ['Draft', 'Ready', 'In Progress', 'Done', 'Blocked'];
    byId[id] = {
      id, parentId, title: `Story ${i} about exports and reports`, status: statuses[i % 5],
      assigneeEmail: `person${i % 12}@example.test`, components: [`c${i % 7}`], storyPoint: i % 8,
      blockedBy: i % 25 === 0 && i > 0 ? [base + i - 1] : undefined,
    };
  }
  return byId;
};
window.benchModules = async () => {
  const entry = document.querySelector('script[type=module]').src;
  const base = entry.slice(0, entry.lastIndexOf('/') + 1);
  return {
    mindmap: await import(base + 'mindmap.js'),
    board: await import(base + 'board-filter.js'),
    store: await import(base + 'store.js'),
  };
};
";

fn millis(value: &Value) -> Vec<Duration> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_f64)
                .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                .collect()
        })
        .unwrap_or_default()
}

async fn run(browser: &Browser, script: &str) -> Value {
    browser
        .client
        .execute_async(script, vec![])
        .await
        .unwrap_or_else(|error| panic!("the page ran the script: {error}"))
}

pub async fn section(report: &mut String, binaries: &Path) {
    let backend = Backend::start("bench-planning").await;
    let gateway = super::release_gateway(&backend, binaries).await;
    let browser = Browser::start(&gateway.url, "bench-planning", 1280, 800).await;
    browser.open("/#/").await;
    browser
        .wait_until("the page is up", "!!document.querySelector('.tree')")
        .await;
    browser
        .client
        .execute(HELPERS, vec![])
        .await
        .expect("the helpers load");

    let done = "const done = arguments[arguments.length - 1];";
    let layout = run(
        &browser,
        &format!(
            "{done} (async () => {{ const m = await benchModules(); const byId = benchMake({LAYOUT_STORIES}); \
             const times = []; for (let r = 0; r < {RUNS}; r++) {{ const t = performance.now(); \
             const laid = m.mindmap.layoutMindmap(byId, new Set()); times.push(performance.now() - t); \
             if (laid.nodes.length !== {LAYOUT_STORIES}) throw new Error('laid out ' + laid.nodes.length); }} \
             done(times); }})().catch((e) => done(String(e)));"
        ),
    )
    .await;
    let mut layout = millis(&layout);
    assert_eq!(layout.len(), RUNS, "the layout ran");

    let filter = run(
        &browser,
        &format!(
            "{done} (async () => {{ const m = await benchModules(); const byId = benchMake({BOARD_STORIES}); \
             const all = m.board.filtersOf({{}}); \
             const cases = [{{ ...all, epic: '1000003' }}, {{ ...all, assignee: 'person3@example.test' }}, \
               {{ ...all, text: 'story 1' }}, {{ ...all, blocked: '1' }}, \
               {{ ...all, epic: '1000005', component: 'c2', text: 'exports' }}]; \
             const times = []; for (let r = 0; r < {RUNS}; r++) for (const f of cases) {{ \
               const t = performance.now(); m.board.filterStories(byId, f, String); times.push(performance.now() - t); }} \
             done(times); }})().catch((e) => done(String(e)));"
        ),
    )
    .await;
    let mut filter = millis(&filter);
    assert!(!filter.is_empty(), "the filters ran");

    // The pan: the stories go into the page's store, the mindmap draws them on its canvas, and
    // each frame is one panBy (the pointer's move) painted.
    run(
        &browser,
        &format!(
            "{done} (async () => {{ const m = await benchModules(); localStorage.clear(); \
             m.store.update('stories', {{ byId: benchMake({PAN_STORIES}), loaded: true, loading: false, cursor: null }}); \
             location.hash = '#/mindmap'; done(true); }})().catch((e) => done(String(e)));"
        ),
    )
    .await;
    let shown = browser
        .wait_until_within(
            "the mindmap's canvas",
            "window.aipmMindmap && window.aipmMindmap.canvas && window.aipmMindmap.nodes",
            Duration::from_secs(60),
        )
        .await;
    let pan = |zoom: f64| {
        format!(
            "{done} (async () => {{ window.aipmMindmap.zoomTo({zoom}); performance.clearMeasures('aipm:mindmap-frame'); \
             for (let i = 0; i < {PAN_FRAMES}; i++) {{ await new Promise((r) => requestAnimationFrame(r)); \
               window.aipmMindmap.panBy(i % 2 ? 7 : -5, 3); }} \
             done(performance.getEntriesByName('aipm:mindmap-frame').map((e) => e.duration)); }})();"
        )
    };
    // Zoomed out to see them all (labels are left out below 35 %), and at 1:1 with every label.
    let frames = run(&browser, &pan(0.2)).await;
    let mut labelled = millis(&run(&browser, &pan(1.0)).await);
    let mut frames = millis(&frames);
    browser.screenshot("bench-mindmap").await;
    browser.close().await;

    let _ = writeln!(report, "## Planning views\n");
    let _ = writeln!(
        report,
        "Headless Chromium on this machine, the page's own modules on made-up stories put into \
         its store (40 epics, two levels below, every 25th story blocked by the one before). \
         Medians over {RUNS} runs. A pan frame is the page's own work per frame (the \
         view moved and every box and edge painted on the canvas, timed by the page); the \
         raster that follows is the compositor's.\n"
    );
    let _ = writeln!(report, "| What | Median | Slowest | Target |");
    let _ = writeln!(report, "|---|---|---|---|");
    let _ = writeln!(
        report,
        "| Mindmap layout (d3-hierarchy tidy tree), {LAYOUT_STORIES} stories | {} ms | {} ms | ≤ 100 ms |",
        ms(percentile(&mut layout, 0.5)),
        ms(percentile(&mut layout, 1.0))
    );
    let _ = writeln!(
        report,
        "| Mindmap pan frame, {shown} stories visible on the canvas at 20 % (boxes, no labels), {PAN_FRAMES} frames | {} ms | {} ms | ≤ 16 ms |",
        ms(percentile(&mut frames, 0.5)),
        ms(percentile(&mut frames, 1.0))
    );
    let _ = writeln!(
        report,
        "| The same at 1:1, every label drawn | {} ms | {} ms | ≤ 16 ms |",
        ms(percentile(&mut labelled, 0.5)),
        ms(percentile(&mut labelled, 1.0))
    );
    let _ = writeln!(
        report,
        "| Board filter, {BOARD_STORIES} stories (epic, assignee, text, blocked, combined) | {} ms | {} ms | ≤ 100 ms |\n",
        ms(percentile(&mut filter, 0.5)),
        ms(percentile(&mut filter, 1.0))
    );
}
