//! cancel-code-task: POST /code-tasks/{taskId}/cancel.

use aipm::handlers::code_tasks::CancelCodeTask;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("cancel-code-task").await?;
    serve(
        &cold_start,
        CancelCodeTask::new(cold_start.code_task_repository(), cold_start.gate()?),
    )
    .await
}
