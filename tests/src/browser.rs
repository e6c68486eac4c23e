//! A real Chromium for the UI tests, driven over WebDriver (fantoccini + Debian's chromedriver):
//! each browser has its own chromedriver on a free port and its own profile folder, waits on
//! conditions (never fixed sleeps), and saves screenshots and the page's console log under
//! `target/ui/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::Process;

/// How long a condition may take before the test fails (a debug-built stack on 2 cores).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Where screenshots and console logs go: `target/ui/`.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"))
        .join("ui");
    std::fs::create_dir_all(&dir).expect("cannot create target/ui");
    dir
}

fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// The browser and driver the test command installs (Debian's `chromium`, `chromium-driver`).
/// Missing ones fail the test: a UI suite that silently skips proves nothing.
fn programs() -> (PathBuf, PathBuf) {
    let chromium = find_program(&["/usr/bin/chromium", "/usr/bin/chromium-browser"])
        .expect("chromium is missing: scripts/test installs it (apt-get install chromium)");
    let driver = find_program(&["/usr/bin/chromedriver"]).expect(
        "chromedriver is missing: scripts/test installs it (apt-get install chromium-driver)",
    );
    (chromium, driver)
}

/// The legacy `se/log` command chromedriver keeps for the browser console.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

pub struct Browser {
    pub client: Client,
    /// The base URL of the UI (`http://127.0.0.1:PORT`).
    pub base: String,
    _driver: Process,
    profile: PathBuf,
    name: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a window of `width`×`height`.
    pub async fn start(base: &str, name: &str, width: u32, height: u32) -> Self {
        let (chromium, driver_program) = programs();
        let port = crate::free_port();
        let mut driver = Process::spawn_with_args(
            &driver_program,
            &[],
            &format!("chromedriver-{name}"),
            &[format!("--port={port}")],
        );
        crate::wait_for_listener(port, PATIENCE, &mut driver.child, &driver.log).await;
        let profile = crate::temp_dir(&format!("chromium-{name}"));
        let downloads = profile.join("downloads");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={width},{height}"),
                ],
                // What the page downloads lands here, where a test opens it.
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false
                }
            }
        });
        let mut capabilities = capabilities;
        if width < 500 {
            // Chromium's windows are at least 500 px wide; a phone is emulated instead.
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2, "touch": true }
            });
        }
        let Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are an object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|error| panic!("no WebDriver session: {error}: {}", driver.log_text()));
        Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            _driver: driver,
            profile,
            name: name.to_owned(),
        }
    }

    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|error| panic!("cannot open {path}: {error}"));
    }

    /// Makes the page act as a local person, as the "Acting as" menu does, and opens `path`.
    pub async fn act_as(&self, person: &str, path: &str) {
        self.open("/").await;
        self.wait_until(
            "the person is remembered",
            &format!("(localStorage.setItem('aipm.localPerson', '{person}'), true)"),
        )
        .await;
        self.open(&format!("/?as={person}{path}")).await;
    }

    /// Waits until `css` matches an element, and returns it.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element {css} within {PATIENCE:?}: {error}"))
    }

    /// Waits until the page has downloaded `file_name` and answers what it holds.
    pub async fn downloaded(&self, file_name: &str) -> String {
        String::from_utf8(self.downloaded_bytes(file_name).await)
            .unwrap_or_else(|_| panic!("{file_name} is not UTF-8"))
    }

    /// The same, byte for byte.
    pub async fn downloaded_bytes(&self, file_name: &str) -> Vec<u8> {
        let path = self.profile.join("downloads").join(file_name);
        let deadline = Instant::now() + PATIENCE;
        loop {
            // Chromium writes `<name>.crdownload` and renames it when the download is complete.
            if let Ok(bytes) = std::fs::read(&path) {
                return bytes;
            }
            assert!(
                Instant::now() < deadline,
                "{file_name} was not downloaded within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element at `css` shows `text` (a substring of its visible text).
    pub async fn wait_for_text(&self, css: &str, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        let mut last = String::new();
        loop {
            if let Ok(elements) = self.client.find_all(Locator::Css(css)).await {
                for element in elements {
                    if let Ok(shown) = element.text().await {
                        if shown.contains(text) {
                            return shown;
                        }
                        last = shown;
                    }
                }
            }
            if Instant::now() >= deadline {
                let alerts = self.alerts().await;
                panic!(
                    "{css} did not show {text:?} within {PATIENCE:?}; last seen: {last:?}; the page's alerts: {alerts:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `script` (a JS expression) is truthy in the page.
    pub async fn wait_until(&self, what: &str, script: &str) -> Value {
        self.wait_until_within(what, script, PATIENCE).await
    }

    /// [`Browser::wait_until`] for work that takes longer than a page (a worker's run).
    pub async fn wait_until_within(&self, what: &str, script: &str, patience: Duration) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            let value = self
                .client
                .execute(&format!("return ({script});"), vec![])
                .await
                .unwrap_or(Value::Null);
            if !value.is_null() && value != json!(false) && value != json!("") {
                return value;
            }
            if Instant::now() >= deadline {
                let alerts = self.alerts().await;
                panic!("{what}: not within {patience:?}; the page's alerts: {alerts:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of every alert the page shows (its error notes), so that a wait that fails
    /// says what the person saw.
    async fn alerts(&self) -> Vec<String> {
        let shown = self
            .client
            .execute(
                "return [...document.querySelectorAll('[role=alert]')].map((alert) => alert.textContent.trim());",
                vec![],
            )
            .await
            .unwrap_or(Value::Null);
        serde_json::from_value(shown).unwrap_or_default()
    }

    /// Scrolls `element` to the middle of the window, clear of the sticky header, as a person
    /// would before clicking it.
    pub async fn scroll_into_view(&self, element: &fantoccini::elements::Element) -> bool {
        let Ok(reference) = serde_json::to_value(element) else {
            return false;
        };
        self.client
            .execute(
                "arguments[0].scrollIntoView({block: 'center', inline: 'center'}); return true;",
                vec![reference],
            )
            .await
            .is_ok()
    }

    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.scroll_into_view(&element).await;
        element
            .click()
            .await
            .unwrap_or_else(|error| panic!("cannot click {css}: {error}"));
    }

    /// Clicks the button whose text contains `label` (inside `scope`, a CSS selector).
    pub async fn click_button(&self, scope: &str, label: &str) {
        let xpath = format!(
            "//*[self::button or self::a][contains(normalize-space(.), {})][not(@disabled)]",
            xpath_literal(label)
        );
        let deadline = Instant::now() + PATIENCE;
        loop {
            let scoped = self.client.find(Locator::Css(scope)).await;
            if let Ok(scope_element) = scoped
                && let Ok(button) = scope_element
                    .find(Locator::XPath(&format!(".{xpath}")))
                    .await
                && self.scroll_into_view(&button).await
                && button.click().await.is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no enabled button {label:?} in {scope} within {PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses `key` on the element that has the focus.
    pub async fn press(&self, key: fantoccini::key::Key) {
        let focused = self
            .client
            .active_element()
            .await
            .expect("an element has the focus");
        focused
            .send_keys(&char::from(key).to_string())
            .await
            .unwrap_or_else(|error| panic!("cannot press {key:?}: {error}"));
    }

    /// Replaces a field's text the way a person does: select all, delete, type.
    ///
    /// WebDriver's own clear sends no `input` event, so the page's state keeps the old text and
    /// any render before the first keystroke puts it back ("CSV" + "CSV export…").
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        let select_all_and_delete: String = [
            char::from(Key::Control),
            'a',
            char::from(Key::Null),
            char::from(Key::Backspace),
        ]
        .into_iter()
        .collect();
        element
            .send_keys(&format!("{select_all_and_delete}{text}"))
            .await
            .unwrap_or_else(|error| panic!("cannot type into {css}: {error}"));
    }

    pub async fn value_of(&self, css: &str) -> String {
        self.element(css)
            .await
            .prop("value")
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// Saves a PNG of the window under `target/ui/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let path = artifacts_dir().join(format!("{name}.png"));
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|error| panic!("no screenshot: {error}"));
        std::fs::write(&path, png).expect("cannot write a screenshot");
        path
    }

    /// The browser console so far, one line per entry.
    pub async fn console(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or(Value::Null);
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                format!(
                    "{} {}",
                    entry["level"].as_str().unwrap_or(""),
                    entry["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// Writes the screenshot and console log of a failure under `target/ui/`.
    pub async fn save_failure(&self, test: &str) {
        let shot = self
            .screenshot(&format!("FAILED-{test}-{}", self.name))
            .await;
        let log = artifacts_dir().join(format!("FAILED-{test}-{}.console.log", self.name));
        std::fs::write(&log, self.console().await.join("\n")).ok();
        eprintln!(
            "UI failure artifacts: {} and {}",
            shot.display(),
            log.display()
        );
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// An XPath string literal for `text`, whatever quotes it holds.
fn xpath_literal(text: &str) -> String {
    if !text.contains('"') {
        return format!("\"{text}\"");
    }
    if !text.contains('\'') {
        return format!("'{text}'");
    }
    let parts: Vec<String> = text.split('"').map(|part| format!("\"{part}\"")).collect();
    format!("concat({})", parts.join(", '\"', "))
}
