//! Test support for adapter and end-to-end tests: starts the local stack (the moto emulator,
//! tables and queues from template.yaml, `cargo lambda watch`) on free ports, and tears it down
//! when dropped or when the test process dies.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::process::{Child, ChildStdin, Command};

pub mod browser;
// The local gateway has a crate of its own (local/); its modules keep their paths here.
pub use aipm_local::{gateway, loopback, queue_feed, router, runtime_api, sandbox};
pub mod contract_proxy;
pub mod live;
pub mod openapi;
pub mod roles;
pub mod ui_bench;

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The virtualenv the README's commands install (moto, cargo-lambda, cfn-lint).
pub fn venv_bin(tool: &str) -> PathBuf {
    let venv = std::env::var_os("AIPM_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let path = venv.join("bin").join(tool);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test (it installs the local stack's tools) first",
        path.display()
    );
    path
}

/// A fresh 2048-bit RSA key pair as a GitHub App has: the private key in GitHub's format
/// (PKCS#1 PEM) and its public half, made with the openssl command line.
pub fn github_app_key() -> (String, String) {
    let folder = temp_dir("github-app-key");
    let private = folder.join("app.pem");
    let public = folder.join("app.pub.pem");
    let run = |arguments: &[&std::ffi::OsStr]| {
        let status = std::process::Command::new("openssl")
            .args(arguments)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {arguments:?}");
    };
    run(&[
        "genrsa".as_ref(),
        "-traditional".as_ref(),
        "-out".as_ref(),
        private.as_os_str(),
        "2048".as_ref(),
    ]);
    run(&[
        "rsa".as_ref(),
        "-in".as_ref(),
        private.as_os_str(),
        "-pubout".as_ref(),
        "-out".as_ref(),
        public.as_os_str(),
    ]);
    let pair = (
        std::fs::read_to_string(&private).expect("the private key"),
        std::fs::read_to_string(&public).expect("the public key"),
    );
    std::fs::remove_dir_all(&folder).ok();
    pair
}

/// A fresh, empty folder under the system's temporary directory.
pub fn temp_dir(label: &str) -> PathBuf {
    static MADE: AtomicU32 = AtomicU32::new(0);
    let parent = std::env::temp_dir();
    std::fs::create_dir_all(&parent).expect("cannot create the temporary directory");
    loop {
        // A folder left by an earlier process with the same id is skipped, never reused.
        let dir = parent.join(format!(
            "aipm-{label}-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        ));
        match std::fs::create_dir(&dir) {
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            made => {
                made.expect("cannot create a temporary folder");
                return dir;
            }
        }
    }
}

/// A loopback port that nothing listens on, for a process a test starts a moment later.
///
/// A port from `bind(0)` is free only until the kernel hands it out again: to the next `bind(0)`
/// of this process (two stack ports the same), or to another test's browser or mock server, in
/// the seconds before the stack binds it. So each port is handed out once per process, from
/// below the kernel's ephemeral range, where neither `bind(0)` nor outgoing connections take
/// ports; the process id spreads concurrent test processes apart.
pub fn free_port() -> u16 {
    static HANDED_OUT: AtomicU32 = AtomicU32::new(0);
    const LOWEST: u32 = 10_000;
    let below = ephemeral_range_start().max(LOWEST + 1_000);
    let span = below - LOWEST;
    let offset = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let handed_out = HANDED_OUT.fetch_add(1, Ordering::Relaxed);
        let port = LOWEST + (offset + handed_out) % span;
        let port = u16::try_from(port).expect("ports below the ephemeral range fit in u16");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between {LOWEST} and {below}");
}

/// The lowest port the kernel picks for `bind(0)` and outgoing connections (Linux's default
/// when the setting cannot be read).
fn ephemeral_range_start() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
        .min(u32::from(u16::MAX))
}

/// A process started through scripts/supervise.py: closing its stdin ends its process group.
struct Supervised {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Supervised {
    fn spawn(command: &Path, args: &[&str], envs: &[(&str, String)], log: &Path) -> Self {
        let log_file = std::fs::File::create(log).expect("cannot create a log file");
        let log_err = log_file
            .try_clone()
            .expect("cannot clone a log file handle");
        let mut child = Command::new(venv_bin("python"))
            .arg(repo_root().join("scripts/supervise.py"))
            .arg(command)
            .args(args)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .expect("cannot start scripts/supervise.py");
        let stdin = child.stdin.take();
        Self { child, stdin }
    }

    async fn stop(&mut self) {
        self.stdin.take();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
    }
}

fn log_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("aipm-test-logs");
    std::fs::create_dir_all(&dir).expect("cannot create the test log folder");
    dir
}

/// Waits until something listens on loopback `port`, failing early (naming `log`) if `child`,
/// the process that should listen, has exited.
pub async fn wait_for_listener(port: u16, within: Duration, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + within;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        let exited = child.try_wait().ok().flatten();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "nothing listens on port {port} ({exited:?}); the end of {}:\n{}",
            log.display(),
            log_tail(log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last lines of a log, for a failure message: CI keeps the test output, not the files.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Supervised {
    async fn wait_for_port(&mut self, port: u16, within: Duration, log: &Path) {
        wait_for_listener(port, within, &mut self.child, log).await;
    }

    /// Waits until `GET {base}/health` answers 200 (a first request may compile functions),
    /// failing early if the process has exited.
    async fn wait_until_healthy(&mut self, base: &str, within: Duration, log: &Path) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + within;
        loop {
            let healthy = client
                .get(format!("{base}/health"))
                .timeout(deadline.saturating_duration_since(Instant::now()))
                .send()
                .await
                .is_ok_and(|response| response.status().as_u16() == 200);
            if healthy {
                return;
            }
            let exited = self.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "{base} did not become healthy ({exited:?}); the end of {}:\n{}",
                log.display(),
                log_tail(log)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The emulator (scripts/emulator.py, moto): DynamoDB and SQS over the AWS wire protocol on one
/// port.
pub struct Emulator {
    process: Supervised,
    pub endpoint: String,
    pub log: PathBuf,
}

impl Emulator {
    pub async fn start() -> Self {
        let port = free_port();
        let log = log_dir().join(format!("moto-{port}.log"));
        let script = repo_root()
            .join("scripts/emulator.py")
            .display()
            .to_string();
        let mut process = Supervised::spawn(
            &venv_bin("python"),
            &[&script, "-H", "127.0.0.1", "-p", &port.to_string()],
            &[],
            &log,
        );
        process
            .wait_for_port(port, Duration::from_secs(30), &log)
            .await;
        Self {
            process,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// Creates template.yaml's tables and queues for `stage`; returns the functions' environment.
    pub async fn create_resources(&self, stage: &str) -> Vec<(String, String)> {
        self.create_resources_with(stage, None).await
    }

    /// Also creates a bare git repository as the functions' `local_git` code host.
    pub async fn create_resources_with(
        &self,
        stage: &str,
        git_repository: Option<&Path>,
    ) -> Vec<(String, String)> {
        let env_file = log_dir().join(format!("env-{stage}-{}", free_port()));
        let mut command = Command::new(venv_bin("python"));
        command
            .arg(repo_root().join("scripts/local_resources.py"))
            .args(["--endpoint", &self.endpoint, "--stage", stage, "--env-file"])
            .arg(&env_file);
        if let Some(repository) = git_repository {
            command.arg("--git-repository").arg(repository);
        }
        let output = command
            .output()
            .await
            .expect("cannot run scripts/local_resources.py");
        assert!(
            output.status.success(),
            "local_resources.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = std::fs::read_to_string(&env_file).expect("no environment file written");
        text.lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// An AWS SDK configuration pointed at this emulator with dummy credentials.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    /// DynamoDB requests served so far and the time the emulator spent on them
    /// (scripts/emulator.py keeps the count).
    pub async fn dynamodb_stats(&self) -> DynamoDbStats {
        let response = reqwest::get(format!("{}/_aipm/emulator-stats", self.endpoint))
            .await
            .expect("the emulator answers its stats");
        let stats: serde_json::Value = response.json().await.expect("stats are JSON");
        DynamoDbStats {
            requests: stats["dynamodbRequests"].as_u64().unwrap_or(0),
            busy: Duration::from_secs_f64(stats["dynamodbSeconds"].as_f64().unwrap_or(0.0)),
        }
    }

    pub async fn stop(&mut self) {
        self.process.stop().await;
    }
}

/// What the emulator did for DynamoDB requests: counts and time, cumulative since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DynamoDbStats {
    pub requests: u64,
    pub busy: Duration,
}

impl DynamoDbStats {
    /// Calls and emulator time per request, over `requests` requests.
    pub fn per_request(&self, requests: usize) -> (f64, Duration) {
        let requests = u32::try_from(requests.max(1)).unwrap_or(u32::MAX);
        (
            self.requests as f64 / f64::from(requests),
            self.busy / requests,
        )
    }
}

impl std::ops::Add for DynamoDbStats {
    type Output = DynamoDbStats;

    fn add(self, other: DynamoDbStats) -> DynamoDbStats {
        DynamoDbStats {
            requests: self.requests + other.requests,
            busy: self.busy + other.busy,
        }
    }
}

impl std::ops::Sub for DynamoDbStats {
    type Output = DynamoDbStats;

    fn sub(self, earlier: DynamoDbStats) -> DynamoDbStats {
        DynamoDbStats {
            requests: self.requests.saturating_sub(earlier.requests),
            busy: self.busy.saturating_sub(earlier.busy),
        }
    }
}

/// The API served by `cargo lambda watch` with the router of Cargo.toml.
pub struct LocalApi {
    process: Supervised,
    /// The contract-checking proxy the tests talk to.
    pub base_url: String,
    /// `cargo lambda watch` itself, for tools that check the contract on their own
    /// (schemathesis) and for `cargo lambda invoke`.
    pub watch_url: String,
    proxy: contract_proxy::ContractProxy,
    pub log: PathBuf,
}

impl LocalApi {
    /// Starts `cargo lambda watch` with the functions' environment and waits until `/health`
    /// answers (the first request may compile the functions).
    pub async fn start(environment: &[(String, String)]) -> Self {
        let port = free_port();
        let log = log_dir().join(format!("watch-{port}.log"));
        let env_file = log_dir().join(format!("watch-env-{port}"));
        let env_text: String = environment
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        std::fs::write(&env_file, env_text).expect("cannot write the watch environment");
        let path = format!(
            "{}:{}",
            venv_bin("python")
                .parent()
                .map(Path::display)
                .map(|d| d.to_string())
                .unwrap_or_default(),
            std::env::var("PATH").unwrap_or_default()
        );
        let env_file_arg = env_file.display().to_string();
        let mut process = Supervised::spawn(
            &venv_bin("cargo-lambda"),
            &[
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "--env-file",
                &env_file_arg,
                // No `--timeout`: watch applies it to its Runtime API's long polls too, and a
                // function idle that long crashes (scripts/repro-watch-timeout).
            ],
            &[("PATH", path)],
            &log,
        );
        process
            .wait_for_port(port, Duration::from_secs(120), &log)
            .await;
        let watch_url = format!("http://127.0.0.1:{port}");
        let proxy = contract_proxy::ContractProxy::start(&watch_url).await;
        process
            .wait_until_healthy(&proxy.url, Duration::from_secs(900), &log)
            .await;
        Self {
            process,
            base_url: proxy.url.clone(),
            watch_url,
            proxy,
            log,
        }
    }

    /// Sends a sample event file to a function with `cargo lambda invoke`; returns the
    /// function's response (statusCode, headers, body).
    pub async fn invoke(&self, function: &str, event_file: &str) -> serde_json::Value {
        let port = self
            .watch_url
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let output = Command::new(venv_bin("cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                "-A",
                "127.0.0.1",
                "-P",
                &port,
                function,
                "--data-file",
                event_file,
            ])
            .current_dir(repo_root())
            .output()
            .await
            .expect("cannot run cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "cargo lambda invoke {function} {event_file} failed: {stdout} {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops the functions, and fails the test if any response broke openapi.yaml.
    pub async fn stop(&mut self) {
        self.process.stop().await;
        let violations = self.proxy.violations();
        assert!(
            violations.is_empty(),
            "responses that break openapi.yaml:\n{}",
            violations.join("\n")
        );
    }
}

/// A child process whose output goes to a log file; killed (SIGKILL) when dropped.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn spawn(program: &Path, envs: &[(String, String)], label: &str) -> Self {
        Self::spawn_with_args(program, envs, label, &[])
    }

    /// [`Process::spawn`] with command-line arguments.
    pub fn spawn_with_args(
        program: &Path,
        envs: &[(String, String)],
        label: &str,
        args: &[String],
    ) -> Self {
        let log = log_dir().join(format!("{label}-{}.log", free_port()));
        let log_file = std::fs::File::create(&log).expect("cannot create a log file");
        let log_err = log_file
            .try_clone()
            .expect("cannot clone a log file handle");
        let child = Command::new(program)
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));
        Self { child, log }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, as when a machine dies.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Seeds, through the DynamoDB adapters, a story that can be built: INVEST passing, one
/// acceptance test, status Ready. Returns its id.
pub async fn seed_ready_story(sdk: &aws_config::SdkConfig, config: &aipm::config::Config) -> u64 {
    use aipm::adapters::dynamodb::{DynamoAcceptanceTestRepository, DynamoStoryRepository};
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let stories = DynamoStoryRepository::new(client.clone(), &config.stories_table);
    let tests = DynamoAcceptanceTestRepository::new(
        client,
        &config.acceptance_tests_table,
        &config.stories_table,
    );
    seed_ready_story_in(&stories, &tests).await
}

/// A draft acceptance test of the CSV-export story the fixtures use.
pub fn sample_test(story_id: u64, id: &str) -> aipm::model::AcceptanceTest {
    let now = chrono::Utc::now();
    aipm::model::AcceptanceTest {
        story_id,
        id: id.to_owned(),
        key: None,
        title: "CSV".into(),
        given: vec!["3 stories".into()],
        when: vec!["the PM exports".into()],
        then: vec!["a CSV with 3 rows is downloaded".into()],
        status: aipm::model::TestStatus::Draft,
        status_set_by: None,
        status_set_at: None,
        needs_review: false,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

/// [`seed_ready_story`] on any repositories (the in-memory ones included).
pub async fn seed_ready_story_in(
    stories: &impl aipm::ports::StoryRepository,
    tests: &impl aipm::ports::AcceptanceTestRepository,
) -> u64 {
    use aipm::model::{NewStory, StoryStatus};
    use aipm::ports::StoryChanges;
    let now = chrono::Utc::now();
    let story = stories
        .create(
            Default::default(),
            NewStory {
                created_by: None,
                parent_id: None,
                title: "Export stories as CSV".into(),
                as_a: "product manager".into(),
                i_want: "a CSV export".into(),
                so_that: "I can share progress".into(),
                description: String::new(),
                components: vec![],
                story_point: Some(3),
                assignee_email: None,
            },
            now,
        )
        .await
        .expect("seeding a story");
    tests
        .create(
            &sample_test(story.id, "t1"),
            &aipm::history::Author::new("tester", None),
        )
        .await
        .expect("seeding a test");
    let ready = StoryChanges {
        status: Some(StoryStatus::Ready),
        ..StoryChanges::default()
    };
    stories
        .update(story.id, &ready, &Default::default(), now)
        .await
        .expect("making the story Ready");
    story.id
}

/// The functions' settings as the domain crate reads them.
pub fn config_from(environment: &[(String, String)]) -> aipm::config::Config {
    aipm::config::Config::from_lookup(|name| {
        environment
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("local_resources.py wrote every setting")
}

/// The emulator with template.yaml's tables and queues, a bare repository as the `local_git`
/// code host, the functions' settings, and an SDK configuration that reaches the emulator.
pub struct Backend {
    pub emulator: Emulator,
    pub environment: Vec<(String, String)>,
    pub repository: PathBuf,
    /// A folder of this backend's own for scripts, logs and work trees.
    pub scratch: PathBuf,
    pub config: aipm::config::Config,
    pub sdk: aws_config::SdkConfig,
}

impl Backend {
    pub async fn start(label: &str) -> Self {
        let emulator = Emulator::start().await;
        let scratch = temp_dir(label);
        let repository = scratch.join("repository.git");
        let environment = emulator
            .create_resources_with("local", Some(&repository))
            .await;
        let config = config_from(&environment);
        let sdk = emulator.sdk_config().await;
        Self {
            emulator,
            environment,
            repository,
            scratch,
            config,
            sdk,
        }
    }

    /// One of the functions' settings.
    pub fn setting(&self, name: &str) -> String {
        self.environment
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("{name} is not in the functions' environment"))
    }
}

/// A [`Backend`] with every function served over HTTP by `cargo lambda watch`.
pub struct HttpStack {
    pub backend: Backend,
    pub api: LocalApi,
    pub http: reqwest::Client,
}

impl std::ops::Deref for HttpStack {
    type Target = Backend;

    fn deref(&self) -> &Backend {
        &self.backend
    }
}

impl HttpStack {
    pub async fn start() -> Self {
        let backend = Backend::start("stack").await;
        let api = LocalApi::start(&backend.environment).await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        Self { backend, api, http }
    }

    /// Sends a request; returns the status and the JSON body (`null` when empty).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.send_keyed(method, path, body, None).await
    }

    /// [`HttpStack::send`] with an `Idempotency-Key`.
    pub async fn send_keyed(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        key: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self.http.request(method, self.api.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.expect("the local API answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a readable body");
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, body)
    }
}

/// The local stack started exactly as a person starts it: `scripts/local-up`, on free ports and
/// with its state in a folder of its own; stopped (the whole process group) when dropped.
pub struct LocalUp {
    process: Supervised,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// `AIPM_STATE_DIR`: functions' logs, the worker's log, the bare repository.
    pub state: PathBuf,
    /// What `scripts/local-up` printed.
    pub log: PathBuf,
}

impl LocalUp {
    /// Runs `scripts/local-up` and waits until `/health` answers 200.
    pub async fn start(label: &str) -> Self {
        Self::start_with(label, &[]).await
    }

    /// [`LocalUp::start`] with more settings for `scripts/local-up` (`AIPM_LOCAL_WORKER=off`).
    pub async fn start_with(label: &str, settings: &[(&str, &str)]) -> Self {
        let api_port = free_port();
        let state = temp_dir(label);
        let log = log_dir().join(format!("local-up-{api_port}.log"));
        let mut process = Supervised::spawn(
            &repo_root().join("scripts/local-up"),
            &[],
            &[
                ("AIPM_API_PORT", api_port.to_string()),
                ("AIPM_EMULATOR_PORT", free_port().to_string()),
                ("AIPM_STATE_DIR", state.display().to_string()),
            ]
            .into_iter()
            .chain(settings.iter().map(|(k, v)| (*k, (*v).to_owned())))
            .collect::<Vec<_>>(),
            &log,
        );
        process
            .wait_for_port(api_port, Duration::from_secs(900), &log)
            .await;
        let url = format!("http://127.0.0.1:{api_port}");
        process
            .wait_until_healthy(&url, Duration::from_secs(120), &log)
            .await;
        Self {
            process,
            url,
            state,
            log,
        }
    }

    /// `method path` as the local stack's default person (an admin); fails the test unless the
    /// answer is a success, and returns its JSON.
    /// Sends a request whatever it answers: the status and the JSON body (`null` when none).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status().as_u16();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let (status, value) = self.send(method, path, body).await;
        assert!(status < 300, "{path}: {status} {value}");
        value
    }

    /// Delivers a GitHub webhook event signed with the local stack's secret (from its
    /// settings file), as GitHub signs it; the status and body it answers.
    pub async fn deliver_webhook(
        &self,
        event: &str,
        delivery: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let settings = std::fs::read_to_string(self.state.join("functions.env"))
            .expect("the local stack's settings");
        let secret = settings
            .lines()
            .find_map(|line| line.strip_prefix("AIPM_GITHUB_WEBHOOK_SECRET="))
            .expect("a webhook secret");
        let body = body.to_string();
        let signature =
            aipm::handlers::github_webhook::signature::sign(secret.as_bytes(), body.as_bytes());
        let response = reqwest::Client::new()
            .post(format!("{}/webhooks/github", self.url))
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the webhook answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// The gateway's sandboxes: `{"sandboxes": [{function, pid, state, rssKiB, …}], …}`.
    pub async fn sandboxes(&self) -> serde_json::Value {
        reqwest::get(format!("{}/_aipm/sandboxes", self.url))
            .await
            .expect("the local gateway answers")
            .json()
            .await
            .expect("sandboxes are JSON")
    }

    pub async fn stop(&mut self) {
        self.process.stop().await;
    }
}

/// A CloudFormation template of the repository (`path` from its root) as JSON, with the short
/// tags in their long form (`!Ref X` becomes `{"Ref": "X"}`, `!If [...]` becomes
/// `{"Fn::If": [...]}`, `!GetAtt A.B` becomes `{"Fn::GetAtt": ["A", "B"]}`), for contract tests.
pub fn cloudformation(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(repo_root().join(path))
        .unwrap_or_else(|error| panic!("cannot read {path}: {error}"));
    yaml_to_json(serde_yaml::from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}")))
}

fn yaml_to_json(value: serde_yaml::Value) -> serde_json::Value {
    use serde_json::{Value, json};
    use serde_yaml::Value as Yaml;
    match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(flag) => json!(flag),
        Yaml::Number(number) => serde_json::to_value(number).unwrap_or(Value::Null),
        Yaml::String(text) => json!(text),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Yaml::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let key = key.as_str().map(str::to_owned).unwrap_or_default();
                    (key, yaml_to_json(value))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let key = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            let mut inner = yaml_to_json(tagged.value);
            if name == "GetAtt"
                && let Some(text) = inner.as_str()
            {
                inner = json!(text.split('.').collect::<Vec<_>>());
            }
            json!({ key: inner })
        }
    }
}

/// An AWS SDK configuration pointed at an emulator's endpoint with dummy credentials.
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(aipm::runtime::aws_https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "aipm-tests",
        ))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_timeout(Duration::from_secs(6))
                .build(),
        )
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .load()
        .await
}
