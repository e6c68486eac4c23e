//! The benchmark's floor (scripts/bench): the Lambda runtime client and nothing else, answering
//! every event with an empty 200. What a function costs beyond this is AIPM's.

use lambda_http::lambda_runtime::{self, LambdaEvent};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        |_event: LambdaEvent<Value>| async {
            Ok::<_, lambda_runtime::Error>(json!({"statusCode": 200, "body": "{}"}))
        },
    ))
    .await
}
