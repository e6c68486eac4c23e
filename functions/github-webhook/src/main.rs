//! github-webhook: POST /webhooks/github (signed by GitHub; no JWT authorizer).

use aipm::handlers::github_webhook::GitHubWebhook;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("github-webhook").await?;
    let (webhook, secret) = cold_start.webhook().await?;
    serve(
        &cold_start,
        GitHubWebhook::new(
            cold_start.story_repository(),
            cold_start.acceptance_test_repository(),
            cold_start.follow_up_repository()?,
            cold_start.task_queue(),
            cold_start.code_host().await?,
            secret,
            cold_start.event_publisher(),
            webhook.rules,
            cold_start.records_gate()?,
        )
        .judging_done_by(cold_start.ci_gate()?),
    )
    .await
}
