//! get-code-task: GET /code-tasks/{taskId}.

use aipm::handlers::code_tasks::GetCodeTask;
use aipm::runtime::{ColdStart, serve};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let cold_start = ColdStart::init("get-code-task").await?;
    serve(
        &cold_start,
        GetCodeTask::new(cold_start.code_task_repository(), cold_start.gate()?),
    )
    .await
}
