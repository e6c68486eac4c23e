//! The UI's figures for `scripts/bench`, measured in headless Chromium against a served stack:
//! bytes of a first load (compressed, as transferred), how long the tree takes to render once
//! the last page of stories has arrived, and how long a status change takes to show after the
//! API's answer. The page marks those moments with the Performance API (`aipm:stories-loaded`,
//! `aipm:status-answer`, `aipm:rendered`); this reads the marks.

use std::time::Duration;

use serde_json::{Value, json};

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
    /// From the last page of stories merged to the tree rendered with all of them.
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

/// Opens the UI afresh `loads` times (a new profile each: nothing cached) with `stories` in the
/// table, and changes one story's status `changes` times.
pub async fn measure(base: &str, stories: u64, loads: usize, changes: usize) -> UiFigures {
    let mut figures = UiFigures::default();
    for load in 0..loads {
        let browser = Browser::start(base, &format!("bench-{load}"), 1280, 800).await;
        browser.open("/").await;
        // Every page of stories: the tree renders once more after each.
        loop {
            let rows = browser
                .client
                .execute(
                    "return document.querySelectorAll('.tree-row').length",
                    vec![],
                )
                .await
                .ok()
                .and_then(|value| value.as_u64())
                .unwrap_or(0);
            if rows >= stories {
                figures.tree_rows = rows;
                break;
            }
            let more = browser
                .client
                .execute(
                    "const b = document.querySelector('.load-more'); if (b) { b.click(); return true; } return false;",
                    vec![],
                )
                .await
                .unwrap_or(json!(false));
            if more != json!(true) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
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
                let kind = if path.starts_with("/stories") || path.starts_with("/health") {
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
            browser.wait_for_text(".story-page h2", "#1").await;
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
