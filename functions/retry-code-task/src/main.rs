//! retry-code-task: POST /code-tasks/{taskId}/retry.

use aipm::handlers::revisions::RetryCodeTask;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("retry-code-task").await?;
    serve(
        &cold_start,
        RetryCodeTask::new(
            cold_start.story_repository(),
            cold_start.follow_up_repository()?,
            cold_start.task_queue(),
            cold_start.code_host().await?,
            cold_start.gate()?,
        ),
    )
    .await
}
