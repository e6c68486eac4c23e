//! The review-loop and AI operations in the benchmark: their handler overhead on the in-memory
//! adapters with a scripted model, and the data, events and stand-in model provider their release
//! functions are measured with.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aipm::adapters::language_model::ScriptedLanguageModel;
use aipm::adapters::memory::{
    MemoryCodeHost, MemoryEvents, MemoryLedger, MemoryStore, StaticSecret,
};
use aipm::handlers::drafts::{DraftStory, DraftTests};
use aipm::handlers::github_webhook::signature::sign;
use aipm::handlers::github_webhook::{GitHubWebhook, TriggerRules};
use aipm::handlers::invest_review::{InvestReviewer, RequestInvestReview};
use aipm::handlers::revisions::{RequestChanges, RetryCodeTask};
use aipm::http::respond;
use aipm::model::{CodeTask, HandOffStage, StoryStatus, TaskStatus};
use aipm::ports::{CodeTaskRepository, JsonAnswer};
use lambda_http::Request;
use serde_json::{Value, json};

use super::{
    Backend, HANDLER_ITERATIONS, HandlerFigures, Scenario, api_event, handler_request,
    memory_store, percentile, tally, time_handler,
};

/// What the stand-in model answers for a story draft.
fn story_answer() -> Value {
    json!({
        "title": "Export the story tree as CSV",
        "asA": "product manager", "iWant": "to export the story tree as CSV",
        "soThat": "I can share progress with stakeholders",
        "description": "One file per export, one row per story.",
        "components": ["export"], "storyPoint": 3,
        "acceptanceTests": tests_answer()["acceptanceTests"]
    })
}

/// What the stand-in model answers for a set of draft acceptance tests.
fn tests_answer() -> Value {
    json!({"acceptanceTests": [
        {"title": "Three stories", "given": ["3 stories exist"],
         "when": ["the PM exports the tree"], "then": ["a CSV with 3 rows is downloaded"]},
        {"title": "Nothing to export", "given": ["no stories exist"],
         "when": ["the PM exports the tree"], "then": ["the message \"Nothing to export\" is shown"]}
    ]})
}

/// What the stand-in model answers for an INVEST review: one concern, the rest passes.
fn review_answer() -> Value {
    let criteria: Vec<Value> = [
        "independent",
        "negotiable",
        "valuable",
        "estimable",
        "small",
        "testable",
    ]
    .iter()
    .map(|name| {
        let verdict = if *name == "small" { "concern" } else { "pass" };
        json!({"criterion": name, "verdict": verdict, "message": "Checked.", "suggestion": "Keep it."})
    })
    .collect();
    json!({"criteria": criteria, "summary": "A small, testable story."})
}

fn scripted(value: Value) -> ScriptedLanguageModel {
    ScriptedLanguageModel::answering(vec![Ok(JsonAnswer {
        value,
        model: "scripted".into(),
        input_tokens: 900,
        output_tokens: 700,
    })])
}

/// Requests each benchmark person makes of an AI operation: the smallest hourly allowance (story
/// drafts and reviews), so no request is refused with 429.
const AI_REQUESTS_PER_PERSON: usize = aipm::handlers::drafts::STORY_DRAFTS_PER_HOUR as usize;

/// The contributor who makes the `n`th AI request: a team of them shares the load, each within
/// their allowance, as a real team would.
pub fn ai_person(n: usize) -> String {
    format!("bench-ai-{}", n / AI_REQUESTS_PER_PERSON)
}

/// The team [`ai_person`] picks from for `requests` requests.
pub fn ai_team(requests: usize) -> Vec<String> {
    (0..requests.div_ceil(AI_REQUESTS_PER_PERSON))
        .map(|k| ai_person(k * AI_REQUESTS_PER_PERSON))
        .collect()
}

/// `event` as it reaches a function for `caller`: with the claims API Gateway's JWT authorizer
/// passes on (deployed stages) and the person header the local stack reads instead.
pub fn with_caller(mut event: Value, caller: &str) -> Value {
    event["requestContext"]["authorizer"] =
        json!({"jwt": {"claims": {"sub": caller}, "scopes": null}});
    event["headers"][aipm::authz::identity::LOCAL_PERSON_HEADER] = json!(caller);
    event
}

/// The AI team as contributors of the default project, in the emulator, and as local people
/// the functions know (a people file of the benchmark's own, beside the local stack's).
pub async fn seed_ai_team(backend: &mut Backend, requests: usize) {
    use aipm::adapters::dynamodb::projects::DynamoProjectDirectory;
    use aipm::authz::Role;
    use aipm::ports::{MemberChange, ProjectDirectory};
    use aipm::project::{DEFAULT_PROJECT_ID, Membership};

    let directory = DynamoProjectDirectory::new(
        aws_sdk_dynamodb::Client::new(&backend.sdk),
        backend.setting("AIPM_PROJECTS_TABLE"),
    );
    let people_file = backend.setting("AIPM_LOCAL_PEOPLE_FILE");
    let mut people: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(&people_file).expect("the local people file"),
    )
    .expect("the local people file is JSON");
    let now = chrono::Utc::now();
    for sub in ai_team(requests) {
        people.push(json!({"sub": sub, "name": sub, "email": format!("{sub}@example.test")}));
        let membership = Membership {
            project_id: DEFAULT_PROJECT_ID.to_owned(),
            member_sub: sub.clone(),
            role: Role::Contributor,
            display_name: Some(sub.clone()),
            added_at: now,
            added_by: None,
        };
        let audit = super::projects::seed_audit(DEFAULT_PROJECT_ID, Some(sub.clone()));
        let change = MemberChange {
            project_id: DEFAULT_PROJECT_ID.to_owned(),
            member_sub: sub,
            current: None,
            next: Some(membership),
        };
        let entry = aipm::history::HistoryEntry::new(
            0,
            None,
            now,
            aipm::history::Author::new("bench", None),
            aipm::history::HistoryAction::MemberChanged,
        );
        directory
            .change_member(&change, &audit, &entry)
            .await
            .expect("a benchmark member is stored");
    }
    let path = backend.scratch.join("bench-people.json");
    std::fs::write(&path, serde_json::to_vec(&people).expect("people as JSON"))
        .expect("the benchmark's people file is written");
    backend
        .environment
        .retain(|(name, _)| name != "AIPM_LOCAL_PEOPLE_FILE");
    backend.environment.push((
        "AIPM_LOCAL_PEOPLE_FILE".to_owned(),
        path.display().to_string(),
    ));
}

/// The request an operation receives for `event`, parsed as the runtime parses it.
fn request_of(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("an HTTP API event")
}

fn idea(n: usize) -> Value {
    json!({"idea": format!("Idea {n}: let product managers export the story tree as CSV")})
}

/// The webhook secret and repository the in-memory webhook is set up with.
const SECRET: &str = "bench-secret";
const REPOSITORY: &str = "acme/shop";

/// GitHub's `pull_request_review` delivery: `login` asks for changes on `pull` (`branch`).
fn review_delivery(
    repository: &str,
    secret: &str,
    review_id: usize,
    pull: u64,
    branch: &str,
) -> (Value, Value) {
    let repo = json!({"full_name": repository});
    let payload = json!({
        "action": "submitted",
        "sender": {"login": "dana", "type": "User"},
        "repository": repo,
        "review": {"id": review_id, "state": "changes_requested", "body": "Please rename the button",
                   "submitted_at": chrono::Utc::now().to_rfc3339()},
        "pull_request": {"number": pull, "state": "open", "merged": false, "merged_at": null,
                         "merge_commit_sha": null,
                         "head": {"ref": branch, "repo": repo}, "base": {"ref": "main", "repo": repo}}
    });
    let body = payload.to_string();
    let headers = json!({
        "x-github-event": "pull_request_review",
        "x-github-delivery": format!("bench-delivery-{review_id}"),
        "x-hub-signature-256": sign(secret.as_bytes(), body.as_bytes()),
    });
    (payload, headers)
}

fn webhook_event(payload: &Value, headers: &Value) -> Value {
    api_event(
        "POST",
        "/webhooks/github",
        "/webhooks/github",
        Some(payload.clone()),
        headers.clone(),
    )
}

/// `count` Ready stories, each with a first task ended `status` on its own pull request.
async fn stories_with_pull_requests(
    count: usize,
    status: TaskStatus,
) -> (MemoryStore, MemoryCodeHost, Vec<CodeTask>) {
    let store = MemoryStore::new();
    let host = MemoryCodeHost::new();
    let generate = aipm::handlers::generate_code::GenerateCode::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        host.clone(),
        aipm::adapters::memory_projects::local_gate(),
    );
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let story = aipm_tests::seed_ready_story_in(&store, &store).await;
        let answer = respond(
            &generate,
            handler_request(
                "POST",
                &[("id", story.to_string())],
                &[],
                String::new(),
                &[("idempotency-key", format!("pool-{n}"))],
            ),
        )
        .await;
        assert_eq!(
            answer.status(),
            202,
            "generate-code hands off story {story}"
        );
        let task = store.recent_for_story(story).await.expect("tasks")[0].clone();
        store.finish_task(&task.task_id, status);
        tasks.push(
            CodeTaskRepository::get(&store, &task.task_id)
                .await
                .expect("a task")
                .expect("the task just made"),
        );
    }
    (store, host, tasks)
}

/// A signed-in stage's gate whose default project has the AI team as contributors.
fn team_gate() -> aipm::authz::gate::Gate<aipm::adapters::memory_projects::MemoryProjects> {
    let team = ai_team(HANDLER_ITERATIONS);
    let members: Vec<(&str, aipm::authz::Role)> = team
        .iter()
        .map(|sub| (sub.as_str(), aipm::authz::Role::Contributor))
        .collect();
    aipm::adapters::memory_projects::jwt_gate(&members)
}

/// Each new operation's own time per request on the in-memory adapters, with a scripted model:
/// every draft a new idea (no cache hit) from a team member within their allowance, every review request a
/// new story, every webhook delivery, change request and retry a new revision on its own pull
/// request.
pub async fn handler_overhead(figures: &mut HandlerFigures) {
    let store = MemoryStore::new();
    let draft = DraftStory::new(
        store.clone(),
        scripted(story_answer()),
        MemoryLedger::default(),
        team_gate(),
    );
    time_handler(figures, "draft-story (scripted model)", &draft, |n| {
        request_of(&with_caller(
            api_event(
                "POST",
                "/story-drafts",
                "/story-drafts",
                Some(idea(n)),
                json!({}),
            ),
            &ai_person(n),
        ))
    })
    .await;

    let store = MemoryStore::new();
    let story = aipm_tests::seed_ready_story_in(&store, &store).await;
    let draft_tests = DraftTests::new(
        store.clone(),
        store.clone(),
        scripted(tests_answer()),
        MemoryLedger::default(),
        team_gate(),
    );
    time_handler(
        figures,
        "draft-acceptance-test (scripted model)",
        &draft_tests,
        |n| {
            request_of(&with_caller(
                api_event(
                    "POST",
                    "/stories/{id}/test-drafts",
                    &format!("/stories/{story}/test-drafts"),
                    Some(json!({"idea": format!("an empty tree, case {n}")})),
                    json!({}),
                ),
                &ai_person(n),
            ))
        },
    )
    .await;

    let store = memory_store(HANDLER_ITERATIONS).await;
    let ask = RequestInvestReview::new(
        store.clone(),
        store.clone(),
        store.clone(),
        MemoryLedger::default(),
        true,
        team_gate(),
    );
    time_handler(figures, "request-invest-review", &ask, |n| {
        request_of(&with_caller(
            api_event(
                "POST",
                "/stories/{id}/invest-review",
                &format!("/stories/{}/invest-review", n + 1),
                None,
                json!({}),
            ),
            &ai_person(n),
        ))
    })
    .await;
    let reviewer = InvestReviewer::new(store.clone(), store.clone(), scripted(review_answer()));
    let messages: Vec<Value> = store
        .sent_task_ids()
        .iter()
        .filter_map(|sent| sent.strip_prefix("review:"))
        .filter_map(|rest| rest.split_once(':'))
        .map(|(story, hash)| json!({"storyId": story.parse::<u64>().unwrap_or(0), "contentHash": hash}))
        .collect();
    let mut samples = Vec::with_capacity(messages.len());
    let mut outcomes = BTreeMap::new();
    for message in messages {
        let started = Instant::now();
        let done = reviewer.handle_message(message).await;
        samples.push(started.elapsed());
        *outcomes.entry(if done { 200 } else { 500 }).or_insert(0) += 1;
    }
    figures.push((
        "invest-reviewer (one queue message, scripted model)",
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
        tally(&outcomes),
    ));

    let (store, host, tasks) =
        stories_with_pull_requests(HANDLER_ITERATIONS, TaskStatus::Succeeded).await;
    host.state()
        .permissions
        .insert("dana".into(), "write".into());
    let webhook = GitHubWebhook::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        host.clone(),
        StaticSecret::new(SECRET),
        MemoryEvents::default(),
        TriggerRules {
            repository: REPOSITORY.into(),
            mentions: vec!["@aipm".into()],
            on_changes_requested: true,
        },
        aipm::adapters::memory_projects::records_gate_over(
            aipm::adapters::memory_projects::MemoryProjects::with_default_project(),
        ),
    );
    let deliveries: Vec<(Value, Value)> = tasks
        .iter()
        .enumerate()
        .map(|(n, task)| {
            review_delivery(
                REPOSITORY,
                SECRET,
                n + 1,
                task.pr_number.unwrap_or_default(),
                &task.branch,
            )
        })
        .collect();
    time_handler(
        figures,
        "github-webhook (a review asking for changes)",
        &webhook,
        |n| request_of(&webhook_event(&deliveries[n].0, &deliveries[n].1)),
    )
    .await;

    let (store, host, tasks) =
        stories_with_pull_requests(HANDLER_ITERATIONS, TaskStatus::Succeeded).await;
    let request_changes = RequestChanges::new(
        store.clone(),
        store.clone(),
        store.clone(),
        host,
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(figures, "request-changes", &request_changes, |n| {
        handler_request(
            "POST",
            &[("id", tasks[n].story_id.to_string())],
            &[],
            format!(r#"{{"feedback":"Rename the export button ({n})"}}"#),
            &[],
        )
    })
    .await;

    let (store, host, tasks) =
        stories_with_pull_requests(HANDLER_ITERATIONS, TaskStatus::Failed).await;
    let retry = RetryCodeTask::new(
        store.clone(),
        store.clone(),
        store.clone(),
        host,
        aipm::adapters::memory_projects::local_gate(),
    );
    time_handler(figures, "retry-code-task", &retry, |n| {
        handler_request(
            "POST",
            &[("taskId", tasks[n].task_id.clone())],
            &[],
            String::new(),
            &[],
        )
    })
    .await;
}

/// A stand-in OpenAI-compatible provider: answers each of AIPM's three schemas with a valid
/// answer at once, so that the functions' own time is what is measured.
pub async fn model_provider() -> wiremock::MockServer {
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::builder()
        .disable_request_recording()
        .start()
        .await;
    for (schema, answer) in [
        ("submit_story_draft", story_answer()),
        ("submit_acceptance_tests", tests_answer()),
        ("submit_invest_review", review_answer()),
    ] {
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_partial_json(
                json!({"response_format": {"json_schema": {"name": schema}}}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "bench", "object": "chat.completion", "model": "bench-model",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": answer.to_string()}}],
                "usage": {"prompt_tokens": 900, "completion_tokens": 700, "total_tokens": 1600}
            })))
            .mount(&server)
            .await;
    }
    server
}

/// The functions' AI settings: the OpenAI-compatible adapter pointed at [`model_provider`].
pub fn ai_environment(provider: &wiremock::MockServer) -> Vec<(String, String)> {
    [
        ("AIPM_AI_PROVIDER", "openai".to_owned()),
        ("AIPM_AI_BASE_URL", format!("{}/v1", provider.uri())),
        ("AIPM_AI_MODEL", "bench-model".to_owned()),
        ("AIPM_AI_API_KEY", "bench-key".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// Where the new operations' data lives in the emulator: stories to review, stories whose
/// pull request gets change requests, failed tasks to retry, and the pull request of the story
/// generate-code handed off.
pub struct Pools {
    review_base: u64,
    changes_base: u64,
    retry_base: u64,
    story: u64,
    pull_number: u64,
    /// Review requests request-invest-review queued, for invest-reviewer to handle.
    messages: Arc<Mutex<Vec<String>>>,
}

/// A task id for pool story `story` (32 hex digits, as AIPM's own).
fn pool_task_id(story: u64) -> String {
    format!("{story:032x}")
}

/// Seeds the pools from story `first` on, `runs` (one per request) in each, and returns them
/// with the first story id after them.
pub async fn seed(
    backend: &Backend,
    first: u64,
    runs: usize,
    story: u64,
    task_id: &str,
) -> (Pools, u64) {
    let tasks = aipm::adapters::dynamodb::DynamoCodeTaskRepository::new(
        aws_sdk_dynamodb::Client::new(&backend.sdk),
        &backend.config.code_tasks_table,
        &backend.config.stories_table,
    );
    let handed_off = tasks
        .get(task_id)
        .await
        .expect("the emulator answers")
        .expect("generate-code recorded its task");
    let pull = (
        handed_off
            .pr_number
            .expect("generate-code opened a pull request"),
        handed_off.branch.clone(),
    );
    let size = runs as u64 + 10;
    let review_base = first;
    let changes_base = review_base + size;
    let retry_base = changes_base + size;
    super::seed_stories(backend, review_base..changes_base, StoryStatus::Draft).await;
    super::seed_stories(
        backend,
        changes_base..retry_base + size,
        StoryStatus::InProgress,
    )
    .await;
    // Every pool story's first task ended on the handed-off pull request: succeeded for the
    // change requests, failed for the retries.
    let now = chrono::Utc::now();
    let items = (changes_base..retry_base + size).map(|id| {
        let mut task = CodeTask::queued(pool_task_id(id), id, pull.1.clone(), now);
        task.status = if id < retry_base {
            TaskStatus::Succeeded
        } else {
            TaskStatus::Failed
        };
        task.hand_off = HandOffStage::Enqueued;
        task.pr_number = Some(pull.0);
        task.finished_at = Some(now);
        serde_dynamo::to_item(task).expect("a task serializes")
    });
    super::batch_put(backend, &backend.config.code_tasks_table, items.collect()).await;
    (
        Pools {
            review_base,
            changes_base,
            retry_base,
            story,
            pull_number: pull.0,
            messages: Arc::default(),
        },
        retry_base + size,
    )
}

/// Takes the review requests request-invest-review queued off the review queue, for
/// invest-reviewer's events.
pub async fn collect_review_requests(backend: &Backend, pools: &Pools) {
    let client = aws_sdk_sqs::Client::new(&backend.sdk);
    let url = backend.setting("AIPM_AI_REVIEW_QUEUE_URL");
    let mut bodies = Vec::new();
    let mut empty_polls = 0;
    while empty_polls < 3 {
        let received = client
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(3_600)
            .send()
            .await
            .expect("the emulator answers the review queue");
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            empty_polls += 1;
        }
        bodies.extend(messages.into_iter().filter_map(|message| message.body));
    }
    eprintln!(
        "  {} review requests queued for invest-reviewer",
        bodies.len()
    );
    *pools
        .messages
        .lock()
        .unwrap_or_else(|poison| poison.into_inner()) = bodies;
}

/// The SQS event Lambda hands a queue consumer: one record.
fn queue_event(n: usize, body: &str) -> Value {
    json!({"Records": [{
        "messageId": format!("bench-{n}"), "receiptHandle": "bench", "body": body,
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
        "awsRegion": "us-east-1"
    }]})
}

/// The new functions' scenarios: each request a new draft by a new caller, a review of a new
/// story, a queued review request, a signed delivery, a change request on a new story's pull
/// request, a retry of a new failed task.
pub fn scenarios(pools: &Pools, backend: &Backend) -> Vec<Scenario> {
    let Pools {
        review_base,
        changes_base,
        retry_base,
        story,
        ..
    } = *pools;
    let messages = Arc::clone(&pools.messages);
    let secret = backend.setting("AIPM_GITHUB_WEBHOOK_SECRET");
    let repository = backend.setting("AIPM_GITHUB_REPOSITORY");
    let pull = pools.pull_number;
    // A review on the story's pull request under a branch AIPM did not open: the webhook reads
    // the story's tasks and ignores it (204), as it does most deliveries.
    let branch = format!("aipm/story-{story}-not-opened-by-aipm");
    vec![
        Scenario {
            function: "draft-story",
            event: Box::new(move |n| {
                with_caller(
                    api_event(
                        "POST",
                        "/story-drafts",
                        "/story-drafts",
                        Some(idea(n)),
                        json!({}),
                    ),
                    &ai_person(n),
                )
            }),
        },
        Scenario {
            function: "draft-acceptance-test",
            event: Box::new(move |n| {
                with_caller(
                    api_event(
                        "POST",
                        "/stories/{id}/test-drafts",
                        &format!("/stories/{story}/test-drafts"),
                        Some(json!({"idea": format!("an empty tree, case {n}")})),
                        json!({}),
                    ),
                    &ai_person(n),
                )
            }),
        },
        Scenario {
            function: "request-invest-review",
            event: Box::new(move |n| {
                with_caller(
                    api_event(
                        "POST",
                        "/stories/{id}/invest-review",
                        &format!("/stories/{}/invest-review", review_base + n as u64),
                        None,
                        json!({}),
                    ),
                    &ai_person(n),
                )
            }),
        },
        Scenario {
            function: "invest-reviewer",
            event: Box::new(move |n| {
                let messages = messages.lock().unwrap_or_else(|poison| poison.into_inner());
                let body = messages.get(n).cloned().unwrap_or_else(|| {
                    json!({"storyId": review_base + n as u64, "contentHash": "none"}).to_string()
                });
                queue_event(n, &body)
            }),
        },
        Scenario {
            function: "github-webhook",
            event: Box::new(move |n| {
                let (payload, headers) =
                    review_delivery(&repository, &secret, n + 1, pull, &branch);
                webhook_event(&payload, &headers)
            }),
        },
        Scenario {
            function: "request-changes",
            event: Box::new(move |n| {
                api_event(
                    "POST",
                    "/stories/{id}/change-requests",
                    &format!("/stories/{}/change-requests", changes_base + n as u64),
                    Some(json!({"feedback": format!("Rename the export button ({n})")})),
                    json!({}),
                )
            }),
        },
        Scenario {
            function: "retry-code-task",
            event: Box::new(move |n| {
                let task = pool_task_id(retry_base + n as u64);
                api_event(
                    "POST",
                    "/code-tasks/{taskId}/retry",
                    &format!("/code-tasks/{task}/retry"),
                    None,
                    json!({}),
                )
            }),
        },
    ]
}

/// A queue consumer's answer as a status for the statuses column: 200 when it handled the
/// record, 500 when it handed it back to the queue.
pub fn queue_outcome(response: &Value) -> Option<u16> {
    let failures = response.get("batchItemFailures")?.as_array()?;
    Some(if failures.is_empty() { 200 } else { 500 })
}
