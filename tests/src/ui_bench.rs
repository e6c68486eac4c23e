//! The UI's figures for `scripts/bench`, measured in headless Chromium against a served stack:
//! bytes of a first load (compressed, as transferred), the tree's first paint (from navigation to
//! the first render with the project's top level, which is all a big project loads at first),
//! how long that render takes once the level has arrived, and how long a status change takes to
//! show after the API's answer. The page marks those moments with the Performance API
//! (`aipm:stories-loaded`, `aipm:status-answer`, `aipm:rendered`); this reads the marks.

use std::time::Duration;

use serde_json::Value;

use crate::browser::Browser;

/// What the benchmark prints about the UI.
#[derive(Debug, Clone, Default)]
pub struct UiFigures {
    /// Bytes on the wire for the page, its modules, CSS and config.json, by kind.
    pub first_load: Vec<(String, u64)>,
    pub first_load_total: u64,
    /// The stories' JSON the first screen fetched (not part of the UI's own weight).
    pub data_bytes: u64,
    pub tree_rows: u64,
    /// From navigation start to the first render showing the tree's top level.
    pub first_paint: Vec<Duration>,
    /// From the top level's stories merged to the tree rendered with them.
    pub tree_render: Vec<Duration>,
    /// From the API's answer to a status change to the page showing it.
    pub status_change: Vec<Duration>,
}

fn millis(value: &Value) -> Duration {
    Duration::from_secs_f64(value.as_f64().unwrap_or(f64::NAN).max(0.0) / 1000.0)
}

/// A JS expression: the milliseconds between the last `from` mark and the first
/// `aipm:rendered` after it, or null while there is none.
fn between_marks(from: &str) -> String {
    format!(
        "(() => {{ const from = performance.getEntriesByName('{from}').at(-1); if (!from) return null; \
         const rendered = performance.getEntriesByName('aipm:rendered').find(m => m.startTime >= from.startTime); \
         return rendered ? Math.max(rendered.startTime - from.startTime, 0.001) : null; }})()"
    )
}

/// Opens the UI afresh `loads` times (a new profile each: nothing cached) on a project whose top
/// level holds `roots` stories, and changes one story's status `changes` times.
pub async fn measure(base: &str, roots: u64, loads: usize, changes: usize) -> UiFigures {
    let mut figures = UiFigures::default();
    for load in 0..loads {
        let browser = Browser::start(base, &format!("bench-{load}"), 1280, 800).await;
        browser.open("/").await;
        let rows = browser
            .wait_until(
                "the tree's top level is shown",
                &format!(
                    "document.querySelectorAll('.tree-row').length >= {roots} \
                     && document.querySelectorAll('.tree-row').length"
                ),
            )
            .await;
        figures.tree_rows = rows.as_u64().unwrap_or(0);
        let painted = browser
            .wait_until(
                "the tree's first paint",
                "(() => { const loaded = performance.getEntriesByName('aipm:stories-loaded')[0]; \
                 if (!loaded) return null; \
                 const shown = performance.getEntriesByName('aipm:rendered').find(m => m.startTime >= loaded.startTime); \
                 return shown ? shown.startTime : null; })()",
            )
            .await;
        figures.first_paint.push(millis(&painted));
        let render = browser
            .wait_until(
                "the tree's render time",
                &between_marks("aipm:stories-loaded"),
            )
            .await;
        figures.tree_render.push(millis(&render));
        if load == 0 {
            let transfer = browser
                .client
                .execute(
                    "const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];\
                     return all.map(e => [e.name, e.initiatorType, e.transferSize]);",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            let mut by_kind = std::collections::BTreeMap::<String, u64>::new();
            for entry in transfer.as_array().into_iter().flatten() {
                let name = entry[0].as_str().unwrap_or_default();
                let bytes = entry[2].as_u64().unwrap_or(0);
                let path = name.split_once("//").map_or(name, |(_, rest)| {
                    rest.find('/').map_or("/", |at| &rest[at..])
                });
                let data = ["/stories", "/projects", "/health"];
                let kind = if data.iter().any(|prefix| path.starts_with(prefix)) {
                    figures.data_bytes += bytes;
                    continue;
                } else if path == "/" || path.ends_with(".html") {
                    "page (HTML)"
                } else if path.ends_with(".js") {
                    "modules (JS)"
                } else if path.ends_with(".css") {
                    "styles (CSS)"
                } else {
                    "config.json"
                };
                *by_kind.entry(kind.to_owned()).or_default() += bytes;
            }
            figures.first_load_total = by_kind.values().sum();
            figures.first_load = by_kind.into_iter().collect();

            // Status changes on the first story, back and forth.
            browser.open("/#/stories/1").await;
            browser.wait_for_text(".story-page h2", "AIPM-1").await;
            for change in 0..changes {
                let (label, shows) = if change % 2 == 0 {
                    ("Move to Blocked", "Blocked")
                } else {
                    ("Move to Draft", "Draft")
                };
                browser.click_button(".status", label).await;
                browser.wait_for_text(".status h3", shows).await;
                let shown = browser
                    .wait_until(
                        "the status change's render time",
                        &between_marks("aipm:status-answer"),
                    )
                    .await;
                figures.status_change.push(millis(&shown));
            }
        }
        browser.close().await;
    }
    figures
}
