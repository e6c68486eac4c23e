//! Cold-start wiring shared by every function: logging, settings, AWS clients, serving.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use lambda_http::{Request, service_fn};

use crate::adapters::code_host::ConfiguredCodeHost;
use crate::adapters::dynamodb::{
    DynamoAcceptanceTestRepository, DynamoCodeTaskRepository, DynamoStoryRepository,
};
use crate::adapters::health::AwsHealthProbe;
use crate::adapters::sqs::SqsTaskQueue;
use crate::config::{CodeHostConfig, Config};
use crate::http::{Operation, request_id, respond};
use crate::{startup, telemetry};
use tracing::Instrument;

/// Limits that keep a dead dependency from holding a request for long: connect within 1 s,
/// each attempt within 3 s, three attempts, everything within 6 s.
fn limits() -> (TimeoutConfig, RetryConfig) {
    (
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(Duration::from_secs(3))
            .operation_timeout(Duration::from_secs(6))
            .build(),
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(50)),
    )
}

/// Loads AWS settings through aws-config's default chains (the worker on EC2: credentials from
/// the instance role), with [`limits`] and [`aws_https_client`].
pub async fn load_sdk_config() -> SdkConfig {
    let (timeouts, retries) = limits();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(aws_https_client())
        .timeout_config(timeouts)
        .retry_config(retries)
        .load()
        .await
}

/// The roots AWS service endpoints' certificates chain to: Amazon Root CA 1–4 and Starfield
/// Services Root G2, which cross-signs them (from Debian's ca-certificates).
const AWS_TRUST_ROOTS: &[u8] = include_bytes!("adapters/aws-trust-roots.pem");

/// The HTTP client of every AWS client AIPM builds (the SDK crates are built without a default
/// one): rustls with ring, trusting AWS's five roots instead of the system's whole bundle, which
/// the SDK's default client reads and parses (about 150 certificates) during every cold start.
/// ring rather than the SDK's aws-lc: the same TLS 1.3 suites, and get-story's zip went from
/// 3,865 to 3,230 KiB with it (docs/PERFORMANCE.md, "TLS with ring").
/// `AIPM_TLS_SYSTEM_ROOTS` set to anything brings the system bundle back. Plain `http://`
/// endpoints (the local emulator) work as well.
pub fn aws_https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let trust = if std::env::var_os("AIPM_TLS_SYSTEM_ROOTS").is_some() {
        TrustStore::default()
    } else {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AWS_TRUST_ROOTS)
    };
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::Ring,
    ));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        Err(error) => {
            tracing::warn!(%error, "the AWS trust roots were refused; using the system's");
            builder.build_https()
        }
    }
}

/// A function's AWS settings, straight from the environment Lambda sets (region, the execution
/// role's keys) and, locally, `AWS_ENDPOINT_URL`. aws-config's default chains look in profile
/// files and set up providers (SSO, web identity, containers, the instance metadata service) a
/// function never uses: that took 1–2 ms of every cold start and put their code in every binary.
/// The [`limits`] are the same. The worker, on EC2, keeps the default chains.
pub fn function_sdk_config() -> SdkConfig {
    use aws_sdk_dynamodb::config::{Region, SharedCredentialsProvider};
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_default();
    let (timeouts, retries) = limits();
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        ))
        .timeout_config(timeouts)
        .retry_config(retries)
        .http_client(aws_https_client());
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL")
        && !endpoint.is_empty()
    {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// What a function builds once per cold start and reuses for every invocation.
pub struct ColdStart {
    /// The operation this function serves, as the API names it (`create-story`); it appears in
    /// every log line and metric.
    pub operation: &'static str,
    process_span: tracing::Span,
    pub config: Config,
    pub sdk: SdkConfig,
    /// One client (and connection pool) shared by every repository of the function.
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl ColdStart {
    /// Sets up JSON logging and metrics, reads the settings (naming any missing variable) and
    /// loads AWS settings.
    pub async fn init(operation: &'static str) -> Result<Self, lambda_http::Error> {
        startup::begin();
        telemetry::init_logging();
        let stage = std::env::var(crate::config::vars::STAGE).unwrap_or_default();
        let process_span = telemetry::process_span(operation, &stage);
        startup::mark("telemetry");
        let config = process_span.in_scope(|| {
            Config::from_env().inspect_err(|error| {
                tracing::error!(%error, "cold start failed");
            })
        })?;
        startup::mark("configuration");
        telemetry::init_metrics(&config.stage);
        startup::mark("metrics");
        let sdk = process_span.in_scope(function_sdk_config);
        startup::mark("sdk configuration");
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        startup::mark("clients");
        Ok(Self {
            operation,
            process_span,
            config,
            sdk,
            dynamodb,
        })
    }

    /// Stories, each change written with its history entry in the projects table (which every
    /// function's environment names).
    pub fn story_repository(&self) -> DynamoStoryRepository {
        let stories =
            DynamoStoryRepository::new(self.dynamodb.clone(), self.config.stories_table.clone());
        match projects_table() {
            Ok(table) => stories.with_history(table),
            Err(_) => stories,
        }
    }

    /// Acceptance tests, each change written with its history entry.
    pub fn acceptance_test_repository(&self) -> DynamoAcceptanceTestRepository {
        let tests = DynamoAcceptanceTestRepository::new(
            self.dynamodb.clone(),
            self.config.acceptance_tests_table.clone(),
            self.config.stories_table.clone(),
        );
        match projects_table() {
            Ok(table) => tests.with_history(table),
            Err(_) => tests,
        }
    }

    /// The trash (the projects table's trash items, over the stories and tests tables).
    pub fn trash(
        &self,
    ) -> Result<crate::adapters::dynamodb::DynamoTrash, crate::config::MissingVariable> {
        Ok(crate::adapters::dynamodb::DynamoTrash::new(
            self.dynamodb.clone(),
            projects_table()?,
            self.config.stories_table.clone(),
            self.config.acceptance_tests_table.clone(),
        ))
    }

    /// The live channel's tickets and sockets (a missing table setting stops the cold start
    /// with its name).
    pub fn live_registry(
        &self,
    ) -> Result<crate::adapters::dynamodb::DynamoLiveRegistry, crate::config::MissingVariable> {
        Ok(crate::adapters::dynamodb::DynamoLiveRegistry::new(
            self.dynamodb.clone(),
            required_variable(crate::config::vars::LIVE_TABLE)?,
        ))
    }

    /// Where the page opens the live channel, if not at its own origin.
    pub fn live_socket_url(&self) -> Option<String> {
        std::env::var(crate::config::vars::LIVE_SOCKET_URL).ok()
    }

    /// API Gateway's management API of the WebSocket stage.
    pub fn live_push(
        &self,
    ) -> Result<crate::adapters::live_push::ApiGatewayPush, crate::config::MissingVariable> {
        let endpoint = required_variable(crate::config::vars::LIVE_ENDPOINT)?;
        Ok(crate::adapters::live_push::ApiGatewayPush::new(
            &self.sdk, &endpoint,
        ))
    }

    /// The change history (the projects table's history items).
    pub fn history(
        &self,
    ) -> Result<crate::adapters::dynamodb::DynamoHistory, crate::config::MissingVariable> {
        Ok(crate::adapters::dynamodb::DynamoHistory::new(
            self.dynamodb.clone(),
            projects_table()?,
        ))
    }

    /// Code tasks; a task's start is recorded in the history with it.
    pub fn code_task_repository(&self) -> DynamoCodeTaskRepository {
        let tasks = DynamoCodeTaskRepository::new(
            self.dynamodb.clone(),
            self.config.code_tasks_table.clone(),
            self.config.stories_table.clone(),
        );
        match projects_table() {
            Ok(table) => tasks.with_history(table),
            Err(_) => tasks,
        }
    }

    /// The code-task repository with the triggers table, for the functions that start revisions
    /// and retries; a missing setting stops the cold start with its name.
    pub fn follow_up_repository(&self) -> Result<DynamoCodeTaskRepository, lambda_http::Error> {
        let table = self
            .config
            .triggers_table
            .clone()
            .ok_or(crate::config::MissingVariable(
                crate::config::vars::TRIGGERS_TABLE,
            ))?;
        Ok(self.code_task_repository().with_triggers_table(table))
    }

    pub fn event_publisher(&self) -> crate::adapters::events::EventBridgePublisher {
        crate::adapters::events::EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&self.sdk),
            self.config.event_bus.clone(),
        )
    }

    /// The GitHub webhook's settings and its secret, read now so a missing secret stops the
    /// cold start instead of failing a delivery.
    pub async fn webhook(
        &self,
    ) -> Result<
        (
            crate::config::WebhookConfig,
            crate::adapters::code_host::GitHubTokenSource,
        ),
        lambda_http::Error,
    > {
        let config = crate::config::WebhookConfig::from_env()?;
        let secret = crate::adapters::code_host::GitHubTokenSource::new(
            config.secret.clone(),
            &self.sdk,
            crate::adapters::code_host::TOKEN_TTL,
        );
        secret.get(false).await?;
        Ok((config, secret))
    }

    /// The stage's language model (off unless configured), with calls bounded by `budget`.
    pub async fn language_model(
        &self,
        budget: Duration,
    ) -> Result<crate::adapters::language_model::ConfiguredLanguageModel, lambda_http::Error> {
        let config = crate::config::AiConfig::from_env()?;
        Ok(
            crate::adapters::language_model::ConfiguredLanguageModel::connect(
                &config, &self.sdk, budget,
            )
            .await?,
        )
    }

    pub fn assist_ledger(
        &self,
    ) -> Result<crate::adapters::dynamodb::assist::DynamoAssistLedger, lambda_http::Error> {
        let table = self
            .config
            .ai_table
            .clone()
            .ok_or(crate::config::MissingVariable(
                crate::config::vars::AI_TABLE,
            ))?;
        Ok(crate::adapters::dynamodb::assist::DynamoAssistLedger::new(
            self.dynamodb.clone(),
            table,
        ))
    }

    pub fn review_queue(&self) -> Result<crate::adapters::sqs::SqsReviewQueue, lambda_http::Error> {
        let url = self
            .config
            .ai_review_queue_url
            .clone()
            .ok_or(crate::config::MissingVariable(
                crate::config::vars::AI_REVIEW_QUEUE_URL,
            ))?;
        Ok(crate::adapters::sqs::SqsReviewQueue::new(
            aws_sdk_sqs::Client::new(&self.sdk),
            url,
        ))
    }

    pub fn task_queue(&self) -> SqsTaskQueue {
        SqsTaskQueue::new(
            aws_sdk_sqs::Client::new(&self.sdk),
            self.config.code_tasks_queue_url.clone(),
        )
    }

    /// The configured code host; a missing setting stops the cold start with its name.
    pub async fn code_host(&self) -> Result<ConfiguredCodeHost, lambda_http::Error> {
        let config = CodeHostConfig::from_env()?;
        Ok(ConfiguredCodeHost::connect(&config, &self.sdk).await?)
    }

    /// The GitHub App when the stage uses one (`AIPM_GITHUB_APP_ID`), with its key read now so
    /// a missing or unreadable secret stops the cold start; None otherwise.
    pub async fn github_app(
        &self,
    ) -> Result<Option<crate::adapters::github_app::GitHubApp>, lambda_http::Error> {
        let Some((app_id, key, api_url)) =
            crate::config::github_app_from_lookup(|name| std::env::var(name).ok())?
        else {
            return Ok(None);
        };
        Ok(Some(
            crate::adapters::code_host::connect_app(app_id, &key, &api_url, &self.sdk).await?,
        ))
    }

    /// The one place requests are authorized: the projects table (a missing setting stops the
    /// cold start with its name) and how this stage identifies people.
    pub fn gate(
        &self,
    ) -> Result<
        crate::authz::gate::Gate<crate::adapters::dynamodb::DynamoProjectDirectory>,
        lambda_http::Error,
    > {
        let identity =
            crate::authz::identity::IdentityMode::from_lookup(|name| std::env::var(name).ok())?;
        Ok(crate::authz::gate::Gate::new(
            self.project_directory()?,
            identity,
        ))
    }

    /// The gate of a consumer of records (the webhook): nobody signs its requests in; it acts
    /// for the people its records name.
    pub fn records_gate(
        &self,
    ) -> Result<
        crate::authz::gate::Gate<crate::adapters::dynamodb::DynamoProjectDirectory>,
        lambda_http::Error,
    > {
        Ok(crate::authz::gate::Gate::new(
            self.project_directory()?,
            crate::authz::identity::IdentityMode::Records,
        ))
    }

    /// CI evidence (upload tokens, reports, results) in the projects table, with the keyed
    /// tests of the acceptance-tests table.
    pub fn test_evidence(
        &self,
    ) -> Result<crate::adapters::dynamodb::DynamoTestEvidence, crate::config::MissingVariable> {
        Ok(crate::adapters::dynamodb::DynamoTestEvidence::new(
            self.dynamodb.clone(),
            projects_table()?,
            self.config.acceptance_tests_table.clone(),
        ))
    }

    /// The project's links between stories (the projects table's graph item, checked against
    /// the stories table).
    pub fn links(
        &self,
    ) -> Result<crate::adapters::dynamodb::DynamoLinks, crate::config::MissingVariable> {
        Ok(crate::adapters::dynamodb::DynamoLinks::new(
            self.dynamodb.clone(),
            projects_table()?,
            self.config.stories_table.clone(),
        ))
    }

    /// The bucket of reference documents; its S3 client is built here, by the functions that
    /// use it only.
    pub fn documents(
        &self,
    ) -> Result<crate::adapters::s3::S3Documents, crate::config::MissingVariable> {
        let bucket = required_variable(crate::config::vars::DOCUMENTS_BUCKET)?;
        Ok(crate::adapters::s3::S3Documents::new(&self.sdk, bucket))
    }

    /// Done judged by CI evidence where a project asks for it.
    pub fn ci_gate(
        &self,
    ) -> Result<
        crate::handlers::traceability::CiGate<
            DynamoCodeTaskRepository,
            crate::adapters::dynamodb::DynamoTestEvidence,
        >,
        crate::config::MissingVariable,
    > {
        Ok(crate::handlers::traceability::CiGate::new(
            self.code_task_repository(),
            self.test_evidence()?,
        ))
    }

    /// The verifier of GitHub Actions OIDC tokens, when the stage names their audience.
    pub fn actions_oidc(
        &self,
    ) -> Result<Option<crate::traceability::oidc::ActionsOidc>, lambda_http::Error> {
        use crate::config::vars;
        let setting = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        let Some(audience) = setting(vars::CI_OIDC_AUDIENCE) else {
            return Ok(None);
        };
        let issuer = setting(vars::CI_OIDC_ISSUER)
            .unwrap_or_else(|| crate::traceability::oidc::GITHUB_ACTIONS_ISSUER.to_owned());
        Ok(Some(crate::traceability::oidc::ActionsOidc::new(
            &issuer, &audience,
        )?))
    }

    fn project_directory(
        &self,
    ) -> Result<crate::adapters::dynamodb::DynamoProjectDirectory, crate::config::MissingVariable>
    {
        Ok(crate::adapters::dynamodb::DynamoProjectDirectory::new(
            self.dynamodb.clone(),
            projects_table()?,
        ))
    }

    pub fn health_probe(&self) -> AwsHealthProbe {
        AwsHealthProbe::new(
            self.dynamodb.clone(),
            aws_sdk_sqs::Client::new(&self.sdk),
            self.config.clone(),
        )
    }
}

/// Serves one operation on the Lambda runtime until the process ends. Every outcome is an HTTP
/// response; nothing reaches API Gateway as an opaque 502. Each request is logged in its own
/// span and counted by status, and its metrics are flushed before the next one.
/// A setting only some functions read; missing or blank, it stops the cold start with its name.
fn required_variable(name: &'static str) -> Result<String, crate::config::MissingVariable> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .ok_or(crate::config::MissingVariable(name))
}

/// The projects table's name.
fn projects_table() -> Result<String, crate::config::MissingVariable> {
    required_variable(crate::config::vars::PROJECTS_TABLE)
}

pub async fn serve(
    cold_start: &ColdStart,
    operation: impl Operation,
) -> Result<(), lambda_http::Error> {
    serve_in(cold_start.operation, &cold_start.process_span, operation).await
}

/// Serves a queue consumer on the Lambda runtime: each SQS event's records go to `handle` one by
/// one; the ids of those that failed are returned as `batchItemFailures`, so only they come back.
pub async fn serve_queue<F, Fut>(
    cold_start: &ColdStart,
    handle: F,
) -> Result<(), lambda_http::Error>
where
    F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let handle = Arc::new(handle);
    serve_events(cold_start, move |event| {
        let handle = Arc::clone(&handle);
        async move {
            let mut failures = Vec::new();
            let records = event["Records"].as_array().cloned().unwrap_or_default();
            for record in records {
                let id = record["messageId"].as_str().unwrap_or_default().to_owned();
                let body = record["body"]
                    .as_str()
                    .and_then(|body| serde_json::from_str(body).ok())
                    .unwrap_or(serde_json::Value::Null);
                if !handle(body).await {
                    failures.push(serde_json::json!({ "itemIdentifier": id }));
                }
            }
            let status = if failures.is_empty() { 200 } else { 500 };
            (serde_json::json!({ "batchItemFailures": failures }), status)
        }
    })
    .await
}

/// Serves a function whose events are not HTTP requests (the WebSocket API's routes, a
/// stream's or a queue's records): `handle` turns each event into the answer Lambda returns
/// and the status it counts as, and never fails, so every outcome is an answer the caller
/// understands.
pub async fn serve_events<F, Fut>(
    cold_start: &ColdStart,
    handle: F,
) -> Result<(), lambda_http::Error>
where
    F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = (serde_json::Value, u16)> + Send,
{
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    let handle = Arc::new(handle);
    let name = cold_start.operation;
    telemetry::count_cold_start(name);
    startup::mark("wiring");
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<serde_json::Value>| {
            let handle = Arc::clone(&handle);
            let span = telemetry::request_span(&event.context.request_id);
            async move {
                let began = std::time::Instant::now();
                let (answer, status) = handle(event.payload).await;
                telemetry::count_request(name, status);
                telemetry::flush_metrics(std::io::stdout());
                startup::request_handled(began.elapsed());
                Ok::<_, Infallible>(answer)
            }
            .instrument(span)
        },
    ))
    .instrument(cold_start.process_span.clone())
    .await
}

/// Serves an operation that uses no AWS service (the UI's files): logging and metrics only.
pub async fn serve_without_aws(
    name: &'static str,
    stage: &str,
    operation: impl Operation,
) -> Result<(), lambda_http::Error> {
    startup::begin();
    telemetry::init_logging();
    let process_span = telemetry::process_span(name, stage);
    startup::mark("telemetry");
    telemetry::init_metrics(stage);
    startup::mark("metrics");
    serve_in(name, &process_span, operation).await
}

async fn serve_in(
    name: &'static str,
    process_span: &tracing::Span,
    operation: impl Operation,
) -> Result<(), lambda_http::Error> {
    let operation = Arc::new(operation);
    telemetry::count_cold_start(name);
    startup::mark("wiring");
    lambda_http::run(service_fn(move |request: Request| {
        let operation = Arc::clone(&operation);
        let span = telemetry::request_span(&request_id(&request));
        async move {
            let began = std::time::Instant::now();
            let response = respond(operation.as_ref(), request).await;
            telemetry::count_request(name, response.status().as_u16());
            telemetry::flush_metrics(std::io::stdout());
            startup::request_handled(began.elapsed());
            Ok::<_, Infallible>(response)
        }
        .instrument(span)
    }))
    .instrument(process_span.clone())
    .await
}
