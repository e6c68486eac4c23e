//! The performance benchmark (`scripts/bench`): cold start, peak memory and warm latency of every
//! function's release build driven through a loopback Lambda Runtime API against the emulator,
//! the handlers' own overhead on the in-memory adapters, get-stories page cost as the table
//! grows, and each function's zip size. Prints the tables and writes BENCHMARKS.md.

mod authorization;
mod breakdown;
mod live;
mod planning;
mod projects;
mod references;
mod review_and_ai;
mod traceability;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aipm::adapters::memory::MemoryStore;
use aipm::handlers::create_story::CreateStory;
use aipm::handlers::get_stories::GetStories;
use aipm::handlers::get_story::GetStory;
use aipm::handlers::update_story::UpdateStory;
use aipm::http::{Operation, respond};
use aipm::model::{NewStory, StoryStatus};
use aipm::ports::StoryRepository;
use aipm_tests::runtime_api::RuntimeApi;
use aipm_tests::{Backend, repo_root, seed_ready_story};
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};

const HANDLER_ITERATIONS: usize = 10_000;

/// A count from the environment (`AIPM_BENCH_…`), or its default.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Starts per function (median of these).
fn cold_starts() -> usize {
    setting("AIPM_BENCH_COLD_STARTS", 20)
}

/// Sequential warm requests per function.
fn warm_requests() -> usize {
    setting("AIPM_BENCH_WARM_REQUESTS", 1_000)
}

/// get-stories requests per table size.
fn page_requests() -> usize {
    setting("AIPM_BENCH_PAGE_REQUESTS", 100)
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index.min(samples.len() - 1)]
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

fn us(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1_000_000.0)
}

/// The event API Gateway would hand the function; `headers` is a JSON object.
fn api_event(method: &str, route: &str, path: &str, body: Option<Value>, headers: Value) -> Value {
    let mut headers = headers.as_object().cloned().unwrap_or_default();
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    if !body.is_empty() {
        headers.insert("content-type".into(), json!("application/json"));
    }
    aipm_tests::gateway::http_api_event(method, route, path, headers, body.as_bytes())
}

/// The status code and body length of a function's response.
fn outcome(posted: &aipm_tests::runtime_api::Posted) -> (u16, usize) {
    let response: Value = serde_json::from_slice(&posted.body).unwrap_or(Value::Null);
    let status = review_and_ai::queue_outcome(&response)
        .unwrap_or(response["statusCode"].as_u64().unwrap_or(0) as u16);
    let length = response["body"].as_str().map(str::len).unwrap_or(0);
    (if posted.error { 0 } else { status }, length)
}

/// One operation to measure: its function and the event of the `n`th request.
struct Scenario {
    function: &'static str,
    event: Box<dyn Fn(usize) -> Value>,
}

struct Figures {
    function: &'static str,
    ready_median: Duration,
    first_response_median: Duration,
    /// The emulator's own time in a first request (mean over the cold starts).
    first_emulator: Duration,
    peak_rss_kib: u64,
    warm_p50: Duration,
    warm_p99: Duration,
    /// DynamoDB requests per warm request, and the emulator's time per warm request.
    dynamodb_calls: f64,
    emulator_per_request: Duration,
    statuses: String,
    zip_bytes: u64,
}

/// Statuses and how often each was answered, as `200×1000 404×20`.
fn tally(statuses: &std::collections::BTreeMap<u16, usize>) -> String {
    statuses
        .iter()
        .map(|(status, count)| format!("{status}×{count}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A function process with the log level the benchmark runs at (warnings only).
fn spawn(binary: &Path, environment: &[(String, String)], runtime: &str) -> std::process::Child {
    let mut environment = environment.to_vec();
    environment.push(("AWS_LAMBDA_LOG_LEVEL".into(), "WARN".into()));
    aipm_tests::runtime_api::spawn_function(binary, &environment, runtime, None)
}

fn zip_size(binary: &Path) -> u64 {
    let zip = std::env::temp_dir().join(format!("aipm-bench-{}.zip", std::process::id()));
    let status = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED); z.write(sys.argv[1], 'bootstrap'); z.close()"])
        .arg(binary)
        .arg(&zip)
        .status();
    let size = match status {
        Ok(status) if status.success() => std::fs::metadata(&zip).map(|m| m.len()).unwrap_or(0),
        _ => 0,
    };
    let _ = std::fs::remove_file(zip);
    size
}

async fn measure(
    scenario: &Scenario,
    binaries: &Path,
    backend: &Backend,
    runtime: &mut RuntimeApi,
    next: &mut usize,
) -> Figures {
    let environment = &backend.environment;
    let binary = references::executable(binaries, scenario.function);
    let mut ready = Vec::new();
    let mut first = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    let mut first_emulator = aipm_tests::DynamoDbStats::default();
    for _ in 0..cold_starts() {
        runtime.drain();
        let started = Instant::now();
        let mut child = spawn(&binary, environment, &runtime.address);
        let polled = runtime
            .next_poll(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("{} never asked for an event", scenario.function));
        ready.push(polled - started);
        let before = backend.emulator.dynamodb_stats().await;
        let (_, posted) = runtime.invoke(&(scenario.event)(*next)).await;
        *next += 1;
        first.push(posted.at - started);
        first_emulator = first_emulator + (backend.emulator.dynamodb_stats().await - before);
        *statuses.entry(outcome(&posted).0).or_insert(0) += 1;
        let _ = child.kill();
        let _ = child.wait();
    }
    runtime.drain();
    let mut child = spawn(&binary, environment, &runtime.address);
    let mut warm = Vec::with_capacity(warm_requests());
    let before = backend.emulator.dynamodb_stats().await;
    for _ in 0..warm_requests() {
        let (sent, posted) = runtime.invoke(&(scenario.event)(*next)).await;
        *next += 1;
        warm.push(posted.at - sent);
        *statuses.entry(outcome(&posted).0).or_insert(0) += 1;
    }
    let emulator = backend.emulator.dynamodb_stats().await - before;
    let peak_rss_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let (dynamodb_calls, emulator_per_request) = emulator.per_request(warm.len());
    Figures {
        function: scenario.function,
        ready_median: percentile(&mut ready, 0.5),
        first_response_median: percentile(&mut first, 0.5),
        first_emulator: first_emulator.per_request(cold_starts()).1,
        peak_rss_kib,
        warm_p50: percentile(&mut warm, 0.5),
        warm_p99: percentile(&mut warm, 0.99),
        dynamodb_calls,
        emulator_per_request,
        statuses: tally(&statuses),
        // The Node.js twin is a script and its node_modules, not one binary.
        zip_bytes: if scenario.function == references::NODE_TWIN {
            0
        } else {
            zip_size(&binary)
        },
    }
}

fn new_story(n: usize) -> NewStory {
    NewStory {
        parent_id: None,
        title: format!("Benchmark story {n}"),
        as_a: "product manager".into(),
        i_want: "to see my stories quickly".into(),
        so_that: "planning meetings stay short".into(),
        description: "x".repeat(200),
        components: vec!["api".into()],
        story_point: Some(3),
        assignee_email: None,
        created_by: None,
    }
}

/// Writes stories `ids` with `status` straight into the table, 25 to a BatchWriteItem, and moves
/// the id counter past them. Creating them one by one through the repository would cost a
/// transaction each, and moto copies the whole table for every transaction: O(n²) to fill
/// 10,000.
async fn seed_stories(backend: &Backend, ids: std::ops::Range<u64>, status: StoryStatus) {
    let now = chrono::Utc::now();
    let last = ids.end.saturating_sub(1);
    let items = ids
        .map(|id| {
            let mut story = new_story(id as usize).into_story(id, now);
            story.status = status;
            serde_dynamo::to_item(story).expect("a story serializes")
        })
        .collect();
    batch_put(backend, &backend.config.stories_table, items).await;
    move_counter_past(backend, last).await;
}

/// Writes a tree of `roots` × `per_root` stories straight into the table, as
/// [`seed_stories`] does: ids 1, 1 + per_root, … are roots (in the root index, as the
/// repository writes them), the ids after each its children.
async fn seed_tree(backend: &Backend, roots: u64, per_root: u64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let now = chrono::Utc::now();
    let last = roots * per_root;
    let items = (1..=last)
        .map(|id| {
            let root = id - (id - 1) % per_root;
            let mut new = new_story(id as usize);
            new.parent_id = (root != id).then_some(root);
            let story = new.into_story(id, now);
            let mut item: std::collections::HashMap<String, AttributeValue> =
                serde_dynamo::to_item(story).expect("a story serializes");
            if root == id {
                item.insert("rootOf".into(), AttributeValue::N("0".into()));
                let children = (per_root - 1).to_string();
                item.insert("childCount".into(), AttributeValue::N(children));
                item.insert("doneChildCount".into(), AttributeValue::N("0".into()));
            }
            item
        })
        .collect();
    batch_put(backend, &backend.config.stories_table, items).await;
    move_counter_past(backend, last).await;
}

/// Moves the default project's story counter to `last`, past stories written straight in.
async fn move_counter_past(backend: &Backend, last: u64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    aws_sdk_dynamodb::Client::new(&backend.sdk)
        .update_item()
        .table_name(&backend.config.stories_table)
        .key("id", AttributeValue::N("0".into()))
        .update_expression("SET lastStoryId = :last")
        .expression_attribute_values(":last", AttributeValue::N(last.to_string()))
        .send()
        .await
        .expect("the id counter moves past the seeded stories");
}

/// Writes `items` into `table`, 25 to a BatchWriteItem, until none is left unprocessed.
async fn batch_put(
    backend: &Backend,
    table: &str,
    items: Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let client = aws_sdk_dynamodb::Client::new(&backend.sdk);
    for chunk in items.chunks(25) {
        let mut writes: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .expect("a put has an item"),
                    )
                    .build()
            })
            .collect();
        while !writes.is_empty() {
            let output = client
                .batch_write_item()
                .request_items(table, writes)
                .send()
                .await
                .expect("the emulator stores a batch");
            writes = output
                .unprocessed_items
                .and_then(|mut unprocessed| unprocessed.remove(table))
                .unwrap_or_default();
        }
    }
}

/// One row of the scale table.
struct PageCost {
    p50: Duration,
    p99: Duration,
    bytes: usize,
    dynamodb_calls: f64,
    emulator_per_request: Duration,
}

/// get-stories page time and size at a given table size, through the release binary.
async fn page_cost(binaries: &Path, backend: &Backend, runtime: &mut RuntimeApi) -> PageCost {
    runtime.drain();
    let mut child = spawn(
        &binaries.join("get-stories"),
        &backend.environment,
        &runtime.address,
    );
    let event = api_event("GET", "/stories", "/stories?limit=50", None, json!({}));
    let mut times = Vec::new();
    let mut bytes = 0;
    // The first request sets up the connection; it belongs to the cold start, not the page.
    runtime.invoke(&event).await;
    let before = backend.emulator.dynamodb_stats().await;
    for _ in 0..page_requests() {
        let (sent, posted) = runtime.invoke(&event).await;
        times.push(posted.at - sent);
        let (status, length) = outcome(&posted);
        assert_eq!(status, 200, "{:?}", posted.body);
        bytes = length;
    }
    let emulator = backend.emulator.dynamodb_stats().await - before;
    let _ = child.kill();
    let _ = child.wait();
    let (dynamodb_calls, emulator_per_request) = emulator.per_request(times.len());
    PageCost {
        p50: percentile(&mut times, 0.5),
        p99: percentile(&mut times, 0.99),
        bytes,
        dynamodb_calls,
        emulator_per_request,
    }
}

/// A request as the runtime hands it to an operation: method, path parameters, query, body and
/// headers.
fn handler_request(
    method: &str,
    path: &[(&str, String)],
    query: &[(&str, &str)],
    body: String,
    headers: &[(&'static str, String)],
) -> Request {
    use std::collections::HashMap;
    let mut request = Request::new(Body::from(body));
    *request.method_mut() = method.parse().unwrap_or_default();
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            request.headers_mut().insert(*name, value);
        }
    }
    let path: HashMap<String, String> = path
        .iter()
        .map(|(name, value)| ((*name).to_owned(), value.clone()))
        .collect();
    let query: HashMap<String, String> = query
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    request
        .with_path_parameters(path)
        .with_query_string_parameters(query)
}

/// Rows of the handler-overhead table: operation, p50, p99, statuses answered.
type HandlerFigures = Vec<(&'static str, Duration, Duration, String)>;

/// Adds a row for `name`: p50 and p99 of the operation's own time per request, and the statuses
/// it answered.
async fn time_handler<O: Operation>(
    figures: &mut HandlerFigures,
    name: &'static str,
    operation: &O,
    request: impl Fn(usize) -> Request,
) {
    let mut samples = Vec::with_capacity(HANDLER_ITERATIONS);
    let mut statuses = std::collections::BTreeMap::new();
    for n in 0..HANDLER_ITERATIONS {
        let request = request(n);
        let started = Instant::now();
        let response = respond(operation, request).await;
        samples.push(started.elapsed());
        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
        std::hint::black_box(response);
    }
    figures.push((
        name,
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
        tally(&statuses),
    ));
}

/// An in-memory store with `count` stories, ids 1..=count.
async fn memory_store(count: usize) -> MemoryStore {
    let store = MemoryStore::new();
    for n in 0..count {
        store
            .create(Default::default(), new_story(n), chrono::Utc::now())
            .await
            .expect("the in-memory store takes a story");
    }
    store
}

/// `count` tests named d0, d1, … on stories `first`, `first + 1`, …, 20 to a story.
async fn memory_tests(store: &MemoryStore, first: u64, count: usize) {
    use aipm::ports::AcceptanceTestRepository;
    for n in 0..count {
        let test = aipm_tests::sample_test(first + (n / 20) as u64, &format!("d{n}"));
        AcceptanceTestRepository::create(store, &test, &aipm::history::Author::new("bench", None))
            .await
            .expect("the in-memory store takes a test");
    }
}

/// Each handler's own time per request on the in-memory adapters: no I/O, no runtime. Every
/// operation gets a store of its own with the stories and tests its requests need.
async fn handler_overhead() -> HandlerFigures {
    let mut figures = Vec::new();
    let id = |n: u64| [("id", n.to_string())];
    let story_body = r#"{"title":"Export stories","asA":"PM","iWant":"a CSV","soThat":"I can share","storyPoint":3}"#;
    let test_body = r#"{"title":"CSV","given":["3 stories"],"when":["the PM exports"],"then":["a CSV with 3 rows is downloaded"]}"#;

    let health = aipm::handlers::health_check::HealthCheck::new(
        aipm::adapters::memory::StaticHealthProbe::default(),
        "bench",
        aipm::config::BUILD,
    );
    time_handler(&mut figures, "health-check", &health, |_| {
        handler_request("GET", &[], &[], String::new(), &[])
    })
    .await;

    let store = memory_store(1_000).await;
    let list = GetStories::new(store.clone(), aipm::adapters::memory_projects::local_gate());
    time_handler(
        &mut figures,
        "get-stories (limit 50, 1,000 stories)",
        &list,
        |_| handler_request("GET", &[], &[("limit", "50")], String::new(), &[]),
    )
    .await;

    let store = memory_store(100).await;
    memory_tests(&store, 1, 5).await;
    let get = GetStory::new(
        store.clone(),
        store.clone(),
        store.clone(),
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(&mut figures, "get-story (5 tests)", &get, |_| {
        handler_request("GET", &id(1), &[], String::new(), &[])
    })
    .await;

    let store = memory_store(100).await;
    let create = CreateStory::new(store.clone(), aipm::adapters::memory_projects::local_gate());
    time_handler(&mut figures, "create-story", &create, |_| {
        handler_request("POST", &[], &[], story_body.to_owned(), &[])
    })
    .await;

    let store = memory_store(100).await;
    memory_tests(&store, 1, 5).await;
    let update = UpdateStory::new(
        store.clone(),
        store.clone(),
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(&mut figures, "update-story (5 tests)", &update, |n| {
        handler_request(
            "PATCH",
            &id(1),
            &[],
            format!(r#"{{"description":"revision {n}"}}"#),
            &[],
        )
    })
    .await;

    let store = memory_store(HANDLER_ITERATIONS).await;
    let delete = aipm::handlers::delete_story::DeleteStory::new(
        store.clone(),
        store.clone(),
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(&mut figures, "delete-story", &delete, |n| {
        handler_request("DELETE", &id(n as u64 + 1), &[], String::new(), &[])
    })
    .await;

    let store = memory_store(HANDLER_ITERATIONS / 20 + 1).await;
    let create_test = aipm::handlers::create_acceptance_test::CreateAcceptanceTest::new(
        store.clone(),
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(&mut figures, "create-acceptance-test", &create_test, |n| {
        handler_request(
            "POST",
            &id(1 + n as u64 / 20),
            &[],
            test_body.to_owned(),
            &[],
        )
    })
    .await;

    let store = memory_store(100).await;
    memory_tests(&store, 1, 5).await;
    let update_test = aipm::handlers::update_acceptance_test::UpdateAcceptanceTest::new(
        store.clone(),
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(&mut figures, "update-acceptance-test", &update_test, |n| {
        let status = if n % 2 == 0 { "Pass" } else { "Fail" };
        handler_request(
            "PATCH",
            &[("id", "1".into()), ("testId", "d0".into())],
            &[],
            format!(r#"{{"status":"{status}"}}"#),
            &[],
        )
    })
    .await;

    let store = memory_store(HANDLER_ITERATIONS / 20 + 1).await;
    memory_tests(&store, 1, HANDLER_ITERATIONS).await;
    let delete_test = aipm::handlers::delete_acceptance_test::DeleteAcceptanceTest::new(
        store.clone(),
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(&mut figures, "delete-acceptance-test", &delete_test, |n| {
        handler_request(
            "DELETE",
            &[
                ("id", (1 + n / 20).to_string()),
                ("testId", format!("d{n}")),
            ],
            &[],
            String::new(),
            &[],
        )
    })
    .await;

    // generate-code on a Ready story each time, so that every request is a first hand-off.
    let store = MemoryStore::new();
    let mut ready = Vec::with_capacity(HANDLER_ITERATIONS);
    for _ in 0..HANDLER_ITERATIONS {
        ready.push(aipm_tests::seed_ready_story_in(&store, &store).await);
    }
    let host = aipm::adapters::memory::MemoryCodeHost::new();
    let generate = aipm::handlers::generate_code::GenerateCode::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        host,
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(&mut figures, "generate-code", &generate, |n| {
        handler_request(
            "POST",
            &id(ready[n]),
            &[],
            String::new(),
            &[("idempotency-key", format!("bench-{n}"))],
        )
    })
    .await;
    let mut task_ids = Vec::with_capacity(HANDLER_ITERATIONS);
    for story in &ready {
        use aipm::ports::CodeTaskRepository;
        let tasks = store.recent_for_story(*story).await.expect("tasks");
        task_ids.push(
            tasks
                .first()
                .map(|task| task.task_id.clone())
                .unwrap_or_default(),
        );
    }
    let get_task = aipm::handlers::code_tasks::GetCodeTask::new(
        store.clone(),
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(&mut figures, "get-code-task", &get_task, |n| {
        handler_request(
            "GET",
            &[("taskId", task_ids[n].clone())],
            &[],
            String::new(),
            &[],
        )
    })
    .await;
    let cancel = aipm::handlers::code_tasks::CancelCodeTask::new(
        store.clone(),
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(&mut figures, "cancel-code-task", &cancel, |n| {
        handler_request(
            "POST",
            &[("taskId", task_ids[n].clone())],
            &[],
            String::new(),
            &[],
        )
    })
    .await;
    review_and_ai::handler_overhead(&mut figures).await;
    figures
}

fn scenarios(
    story: u64,
    task_id: String,
    deletable: u64,
    test_story: u64,
    tests_base: u64,
    create_base: u64,
) -> Vec<Scenario> {
    let story_path = format!("/stories/{story}");
    let no_headers = || json!({});
    vec![
        Scenario {
            function: "web",
            event: Box::new(move |_| {
                api_event("GET", "/", "/", None, json!({"accept-encoding": "gzip"}))
            }),
        },
        Scenario {
            function: "health-check",
            event: Box::new(move |_| api_event("GET", "/health", "/health", None, no_headers())),
        },
        Scenario {
            function: "get-stories",
            event: Box::new(move |_| {
                api_event("GET", "/stories", "/stories?limit=50", None, no_headers())
            }),
        },
        Scenario {
            function: "get-story",
            event: Box::new({
                let path = story_path.clone();
                move |_| api_event("GET", "/stories/{id}", &path, None, no_headers())
            }),
        },
        Scenario {
            function: "create-story",
            event: Box::new(move |n| {
                api_event(
                    "POST",
                    "/stories",
                    "/stories",
                    Some(
                        json!({"title": format!("Created {n}"), "asA": "PM", "iWant": "x", "soThat": "y"}),
                    ),
                    no_headers(),
                )
            }),
        },
        Scenario {
            function: "update-story",
            event: Box::new(move |n| {
                api_event(
                    "PATCH",
                    "/stories/{id}",
                    &format!("/stories/{test_story}"),
                    Some(json!({"description": format!("revision {n}")})),
                    no_headers(),
                )
            }),
        },
        Scenario {
            function: "delete-story",
            event: Box::new(move |n| {
                api_event(
                    "DELETE",
                    "/stories/{id}",
                    &format!("/stories/{}", deletable + n as u64),
                    None,
                    no_headers(),
                )
            }),
        },
        Scenario {
            function: "create-acceptance-test",
            event: Box::new(move |n| {
                api_event(
                    "POST",
                    "/stories/{id}/tests",
                    // Stories with room: 20 tests each, a new story every 10 requests.
                    &format!("/stories/{}/tests", create_base + (n / 10) as u64),
                    Some(
                        json!({"title": format!("Test {n}"), "given": ["a story"], "when": ["I export it"], "then": ["a CSV with 3 rows is downloaded"]}),
                    ),
                    no_headers(),
                )
            }),
        },
        Scenario {
            function: "update-acceptance-test",
            event: Box::new(move |_| {
                api_event(
                    "PATCH",
                    "/stories/{id}/tests/{testId}",
                    &format!("/stories/{test_story}/tests/bench-test"),
                    Some(json!({"status": "Pass"})),
                    no_headers(),
                )
            }),
        },
        Scenario {
            function: "delete-acceptance-test",
            event: Box::new(move |n| {
                api_event(
                    "DELETE",
                    "/stories/{id}/tests/{testId}",
                    &format!("/stories/{}/tests/d{n}", tests_base + (n / 20) as u64),
                    None,
                    no_headers(),
                )
            }),
        },
        Scenario {
            function: "generate-code",
            event: Box::new({
                let path = format!("{story_path}/generate-code");
                move |_| {
                    api_event(
                        "POST",
                        "/stories/{id}/generate-code",
                        &path,
                        None,
                        json!({"idempotency-key": "bench"}),
                    )
                }
            }),
        },
        Scenario {
            function: "get-code-task",
            event: Box::new({
                let path = format!("/code-tasks/{task_id}");
                move |_| api_event("GET", "/code-tasks/{taskId}", &path, None, no_headers())
            }),
        },
        Scenario {
            function: "cancel-code-task",
            event: Box::new(move |_| {
                api_event(
                    "POST",
                    "/code-tasks/{taskId}/cancel",
                    "/code-tasks/0123456789abcdef/cancel",
                    None,
                    no_headers(),
                )
            }),
        },
    ]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|name| name.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, {memory}, Linux")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let binaries: PathBuf = std::env::var_os("AIPM_BENCH_BINARIES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/release"));
    // A profile comparison measures a few functions only and writes no BENCHMARKS.md.
    let only: Option<Vec<String>> = std::env::var("AIPM_BENCH_FUNCTIONS")
        .ok()
        .map(|list| list.split(',').map(str::to_owned).collect());
    let mut report = String::new();
    // `AIPM_BENCH_SECTION=authorization` measures only the policy and the gate, in seconds;
    // `ui` only the UI in Chromium, with the functions found in AIPM_BENCH_BINARIES;
    // `traceability` only the test-report upload and the matrix page; `planning` only the
    // mindmap and the board's filters in Chromium.
    match std::env::var("AIPM_BENCH_SECTION").as_deref() {
        Ok("authorization") => {
            authorization::section(&mut report).await;
            println!("{report}");
            return;
        }
        Ok("ui") => {
            let ui = ui_figures(&binaries).await;
            write_ui_section(&mut report, &ui);
            println!("{report}");
            return;
        }
        // Measured alone, the traceability section replaces its own part of BENCHMARKS.md.
        Ok("traceability") => {
            traceability::section(&mut report, &binaries).await;
            println!("{report}");
            let out = repo_root().join("BENCHMARKS.md");
            let document = std::fs::read_to_string(&out).unwrap_or_default();
            std::fs::write(&out, traceability::splice(&document, &report))
                .expect("BENCHMARKS.md is writable");
            eprintln!("wrote the traceability section of {}", out.display());
            return;
        }
        // The live channel under load; replaces its own part of BENCHMARKS.md.
        Ok("live") => {
            live::section(&mut report, &binaries).await;
            println!("{report}");
            let out = repo_root().join("BENCHMARKS.md");
            let document = std::fs::read_to_string(&out).unwrap_or_default();
            std::fs::write(
                &out,
                traceability::splice_section(&document, "\n## Live updates", &report),
            )
            .expect("BENCHMARKS.md is writable");
            eprintln!("wrote the live section of {}", out.display());
            return;
        }
        // The same for the planning views (in Chromium, on made-up stories).
        Ok("planning") => {
            planning::section(&mut report, &binaries).await;
            println!("{report}");
            let out = repo_root().join("BENCHMARKS.md");
            let document = std::fs::read_to_string(&out).unwrap_or_default();
            std::fs::write(
                &out,
                traceability::splice_section(&document, "\n## Planning views", &report),
            )
            .expect("BENCHMARKS.md is writable");
            eprintln!("wrote the planning section of {}", out.display());
            return;
        }
        _ => {}
    }
    let _ = writeln!(report, "# Benchmarks\n");
    let _ = writeln!(
        report,
        "Written by `scripts/bench` on {}. Machine: {}.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        machine()
    );
    let _ = writeln!(
        report,
        "Method: each function's release build (`cargo build --release`, the profile in \
         Cargo.toml) runs as a plain process against a Lambda Runtime API served by the harness on \
         loopback, with the moto emulator behind it (DynamoDB requests serialized, see \
         LOCAL-STACK-NOTES). *Ready* is process start to its first poll for an event; *first \
         response* adds the first request, with its TLS-free connection to the emulator. Medians of \
         {} starts. Warm latency: {} sequential requests to one process, \
         from handing out the event to receiving the response (the runtime round trip is \
         included). *DynamoDB calls* and *emulator ms* per request come from the emulator's own \
         count (scripts/emulator.py): what is left of the warm time is the function, the SDK \
         and loopback HTTP. Peak RSS is the process's VmHWM after the warm run. Handler overhead: \
         {HANDLER_ITERATIONS} calls of the handler on the in-memory adapters, in process. Zip: \
         the binary as `bootstrap`, deflated. Scale: stories written straight into the table \
         (BatchWriteItem) on an emulator of its own, then the first page of GET /stories \
         measured at each size after one unmeasured request.\n",
        cold_starts(),
        warm_requests()
    );

    let mut runtime = RuntimeApi::start().await;

    // Scale, on an emulator of its own so that the 10,000 stories do not slow the rest.
    let mut ratio = f64::NAN;
    if only.is_none() {
        eprintln!("scale: get-stories as the table grows");
        let mut backend = Backend::start("bench-scale").await;
        let _ = writeln!(
            report,
            "## get-stories page cost as the table grows (first page, limit 50, {} requests)\n",
            page_requests()
        );
        let _ = writeln!(
            report,
            "| stories in table | page p50 ms | page p99 ms | bytes per page | DynamoDB calls per page | emulator ms per page |"
        );
        let _ = writeln!(report, "|---:|---:|---:|---:|---:|---:|");
        let mut page_at = Vec::new();
        let mut have = 0;
        for size in [100u64, 1_000, 10_000] {
            seed_stories(&backend, have + 1..size + 1, StoryStatus::Draft).await;
            have = size;
            let cost = page_cost(&binaries, &backend, &mut runtime).await;
            eprintln!(
                "  {size}: p50 {} ms, p99 {} ms, {} bytes, {:.1} calls, emulator {} ms",
                ms(cost.p50),
                ms(cost.p99),
                cost.bytes,
                cost.dynamodb_calls,
                ms(cost.emulator_per_request)
            );
            let _ = writeln!(
                report,
                "| {size} | {} | {} | {} | {:.1} | {} |",
                ms(cost.p50),
                ms(cost.p99),
                cost.bytes,
                cost.dynamodb_calls,
                ms(cost.emulator_per_request)
            );
            page_at.push(cost.p50);
        }
        ratio = page_at[2].as_secs_f64() / page_at[0].as_secs_f64();
        let _ = writeln!(
            report,
            "\nPage time at 10,000 stories is {ratio:.2}× that at 100 (target ≤ 1.5×).\n"
        );
        backend.emulator.stop().await;
    }

    let mut backend = Backend::start("bench").await;
    // Drafts and reviews ask a stand-in model provider that answers at once.
    let model_provider = review_and_ai::model_provider().await;
    backend
        .environment
        .extend(review_and_ai::ai_environment(&model_provider));
    // Data for the per-function scenarios.
    let story = seed_ready_story(&backend.sdk, &backend.config).await;
    let test_story = seed_ready_story(&backend.sdk, &backend.config).await;
    {
        use aipm::ports::AcceptanceTestRepository;
        let tests = aipm::adapters::dynamodb::DynamoAcceptanceTestRepository::new(
            aws_sdk_dynamodb::Client::new(&backend.sdk),
            &backend.config.acceptance_tests_table,
            &backend.config.stories_table,
        );
        let mut test = tests.list(test_story).await.expect("tests")[0].clone();
        test.id = "bench-test".into();
        tests
            .create(&test, &aipm::history::Author::new("tester", None))
            .await
            .expect("a test to update");
    }
    // Stories to delete, then stories holding the tests to delete (d0, d1, … 20 each), then
    // stories with room for new tests.
    let runs = cold_starts() + warm_requests();
    let deletable = test_story + 1;
    let tests_base = deletable + runs as u64 + 10;
    let create_base = tests_base + (runs / 20) as u64 + 10;
    let pools_base = create_base + (runs / 10) as u64 + 10;
    seed_stories(&backend, deletable..pools_base, StoryStatus::Draft).await;
    {
        use aipm::ports::AcceptanceTestRepository;
        use futures::StreamExt;
        let tests = aipm::adapters::dynamodb::DynamoAcceptanceTestRepository::new(
            aws_sdk_dynamodb::Client::new(&backend.sdk),
            &backend.config.acceptance_tests_table,
            &backend.config.stories_table,
        );
        let template = tests.list(test_story).await.expect("tests")[0].clone();
        // Ten more than the runs: the cold-start breakdown asks five more times.
        futures::stream::iter(0..runs + 10)
            .map(|n| {
                let tests = tests.clone();
                let mut test = template.clone();
                test.story_id = tests_base + (n / 20) as u64;
                test.id = format!("d{n}");
                async move {
                    tests
                        .create(&test, &aipm::history::Author::new("tester", None))
                        .await
                }
            })
            .buffer_unordered(4)
            .for_each(|created| async move {
                created.expect("a test to delete is stored");
            })
            .await;
    }
    let environment = backend.environment.clone();
    let (_, generated) = runtime_first_task(&binaries, &environment, &mut runtime, story).await;
    let task_id = generated["taskId"].as_str().unwrap_or("0").to_owned();

    let (pools, _) = review_and_ai::seed(&backend, pools_base, runs, story, &task_id).await;
    // Ten more than the runs, as above.
    projects::seed(&backend, runs + 10).await;
    review_and_ai::seed_ai_team(&mut backend, runs + 10).await;

    let mut figures = Vec::new();
    let mut breakdowns = Vec::new();
    let mut all = references::scenarios(story);
    all.extend(scenarios(
        story,
        task_id,
        deletable,
        test_story,
        tests_base,
        create_base,
    ));
    all.extend(review_and_ai::scenarios(&pools, &backend));
    all.extend(projects::scenarios());
    for scenario in all {
        if let Some(only) = &only
            && !only.iter().any(|name| name == scenario.function)
        {
            continue;
        }
        if scenario.function == "invest-reviewer" {
            review_and_ai::collect_review_requests(&backend, &pools).await;
        }
        eprintln!("measuring {}", scenario.function);
        let mut n = 0;
        let measured = measure(&scenario, &binaries, &backend, &mut runtime, &mut n).await;
        eprintln!(
            "  ready {} ms, first response {} ms, rss {} KiB, p50 {} ms, p99 {} ms, {:.1} calls, emulator {} ms [{}]",
            ms(measured.ready_median),
            ms(measured.first_response_median),
            measured.peak_rss_kib,
            ms(measured.warm_p50),
            ms(measured.warm_p99),
            measured.dynamodb_calls,
            ms(measured.emulator_per_request),
            measured.statuses
        );
        figures.push(measured);
        if let Some(found) =
            breakdown::measure(&scenario, &binaries, &backend, &mut runtime, &mut n).await
        {
            breakdowns.push(found);
        }
    }
    let _ = writeln!(report, "## Per function (release build)\n");
    let _ = writeln!(
        report,
        "| function | ready ms (median) | first response ms (median) | peak RSS MiB | warm p50 ms | warm p99 ms | DynamoDB calls per request | emulator ms per request | zip KiB | statuses seen |"
    );
    let _ = writeln!(report, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for f in &figures {
        let zip = if f.zip_bytes == 0 {
            "—".to_owned()
        } else {
            (f.zip_bytes / 1024).to_string()
        };
        let _ = writeln!(
            report,
            "| {} | {} | {} | {:.1} | {} | {} | {:.1} | {} | {} | {} |",
            f.function,
            ms(f.ready_median),
            ms(f.first_response_median),
            f.peak_rss_kib as f64 / 1024.0,
            ms(f.warm_p50),
            ms(f.warm_p99),
            f.dynamodb_calls,
            ms(f.emulator_per_request),
            zip,
            f.statuses
        );
    }
    references::write_ratios(&mut report, &figures);
    references::write_zip_change(&mut report, &figures);
    references::write_authorization_budget(&mut report, &figures);
    breakdown::write(&mut report, &breakdowns);

    if only.is_some() {
        println!("{report}");
        return;
    }
    eprintln!("the UI in headless Chromium");
    let ui = ui_figures(&binaries).await;
    write_ui_section(&mut report, &ui);
    traceability::section(&mut report, &binaries).await;
    live::section(&mut report, &binaries).await;
    eprintln!("handler overhead on the in-memory adapters");
    let _ = writeln!(
        report,
        "\n## Handler overhead (in-memory adapters, {HANDLER_ITERATIONS} calls, no I/O)\n"
    );
    let _ = writeln!(report, "| operation | p50 µs | p99 µs | statuses seen |");
    let _ = writeln!(report, "|---|---:|---:|---|");
    let mut worst_handler_p99 = Duration::ZERO;
    for (name, p50, p99, seen) in handler_overhead().await {
        eprintln!("  {name}: p50 {} µs, p99 {} µs [{seen}]", us(p50), us(p99));
        let _ = writeln!(report, "| {name} | {} | {} | {seen} |", us(p50), us(p99));
        worst_handler_p99 = worst_handler_p99.max(p99);
    }
    eprintln!("authorization in process");
    authorization::section(&mut report).await;

    let functions = || {
        figures
            .iter()
            .filter(|f| !references::is_reference(f.function))
    };
    let worst_ready = functions()
        .map(|f| f.ready_median)
        .max()
        .unwrap_or_default();
    let worst_rss = functions()
        .map(|f| f.peak_rss_kib)
        .max()
        .unwrap_or_default();
    let _ = writeln!(
        report,
        "\n## Against the targets\n\n- slowest median ready-for-first-event: {} ms (target ≤ 20 ms)\n\
         - largest peak RSS: {:.1} MiB (target ≤ 32 MiB)\n- slowest handler overhead p99: {} µs (target ≤ 1,000 µs)\n\
         - get-stories page at 10,000 vs 100 stories: {ratio:.2}× (target ≤ 1.5×)",
        ms(worst_ready),
        worst_rss as f64 / 1024.0,
        us(worst_handler_p99)
    );
    references::write_targets(&mut report, &figures);
    report.push('\n');
    println!("{report}");
    let out = repo_root().join("BENCHMARKS.md");
    std::fs::write(&out, report).expect("BENCHMARKS.md is writable");
    eprintln!("wrote {}", out.display());
}

/// The project the UI is measured on: this many top-level stories (epics), each with
/// `UI_PER_ROOT - 1` children: 10,000 stories.
const UI_ROOTS: u64 = 100;
const UI_PER_ROOT: u64 = 100;
const UI_STORIES: u64 = UI_ROOTS * UI_PER_ROOT;

/// The UI served with the functions behind the local gateway, a project of 10,000 stories in
/// the table, measured in headless Chromium (aipm_tests::ui_bench).
async fn ui_figures(binaries: &Path) -> aipm_tests::ui_bench::UiFigures {
    let backend = Backend::start("bench-ui").await;
    seed_tree(&backend, UI_ROOTS, UI_PER_ROOT).await;
    let gateway = release_gateway(&backend, binaries).await;
    let loads = setting("AIPM_BENCH_UI_LOADS", 5);
    let changes = setting("AIPM_BENCH_UI_CHANGES", 10);
    aipm_tests::ui_bench::measure(&gateway.url, UI_ROOTS, loads, changes).await
}

/// The functions in `binaries` behind the local gateway, on `backend`, as the UI reaches them.
async fn release_gateway(backend: &Backend, binaries: &Path) -> aipm_tests::gateway::Gateway {
    use aipm_tests::gateway::{Gateway, GatewaySettings};
    let mut settings =
        GatewaySettings::new(backend.environment.clone(), &backend.scratch.join("logs"));
    settings.binaries = binaries.to_path_buf();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    Gateway::start(settings, listener)
        .await
        .expect("the gateway serves the release functions")
}

fn write_ui_section(report: &mut String, ui: &aipm_tests::ui_bench::UiFigures) {
    let mut paint = ui.first_paint.clone();
    let mut render = ui.tree_render.clone();
    let mut change = ui.status_change.clone();
    let _ = writeln!(
        report,
        "\n## The UI (headless Chromium, release functions behind the local gateway)\n"
    );
    let _ = writeln!(
        report,
        "First load, fresh profile, bytes transferred (compressed, headers included):\n"
    );
    let _ = writeln!(report, "| part | bytes |\n|---|---:|");
    for (kind, bytes) in &ui.first_load {
        let _ = writeln!(report, "| {kind} | {bytes} |");
    }
    let _ = writeln!(
        report,
        "| **the UI in all** | **{}** ({:.1} KB; target ≤ 60 KB) |\n| the stories' JSON it then fetched (data, not UI) | {} |\n",
        ui.first_load_total,
        ui.first_load_total as f64 / 1000.0,
        ui.data_bytes
    );
    let _ = writeln!(
        report,
        "- first paint of the tree of a {}-story project ({} epics of {} stories; the top level, {} rows): {} ms from navigation (median of {} fresh loads, max {} ms; target ≤ 1,000 ms)\n- the tree rendered {} ms (median of {} loads, p99 {} ms) after its top level arrived (target ≤ 500 ms)\n- a status change shown {} ms (median of {}, p99 {} ms) after the API's answer (target ≤ 100 ms)\n",
        UI_STORIES,
        UI_ROOTS,
        UI_PER_ROOT,
        ui.tree_rows,
        ms(percentile(&mut paint, 0.5)),
        ui.first_paint.len(),
        ms(percentile(&mut paint, 1.0)),
        ms(percentile(&mut render, 0.5)),
        ui.tree_render.len(),
        ms(percentile(&mut render, 0.99)),
        ms(percentile(&mut change, 0.5)),
        ui.status_change.len(),
        ms(percentile(&mut change, 0.99)),
    );
    eprintln!(
        "  first load {} bytes; first paint {} ms; tree {} ms; status change {} ms",
        ui.first_load_total,
        ms(percentile(&mut paint, 0.5)),
        ms(percentile(&mut render, 0.5)),
        ms(percentile(&mut change, 0.5))
    );
}

/// Runs generate-code once so that get-code-task has a task to read and generate-code's warm
/// requests are replays of the same Idempotency-Key.
async fn runtime_first_task(
    binaries: &Path,
    environment: &[(String, String)],
    runtime: &mut RuntimeApi,
    story: u64,
) -> (u16, Value) {
    runtime.drain();
    let mut child = spawn(
        &binaries.join("generate-code"),
        environment,
        &runtime.address,
    );
    let event = api_event(
        "POST",
        "/stories/{id}/generate-code",
        &format!("/stories/{story}/generate-code"),
        None,
        json!({"idempotency-key": "bench"}),
    );
    let (_, posted) = runtime.invoke(&event).await;
    let _ = child.kill();
    let _ = child.wait();
    let response: Value = serde_json::from_slice(&posted.body).unwrap_or(Value::Null);
    let body = response["body"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null);
    (response["statusCode"].as_u64().unwrap_or(0) as u16, body)
}
