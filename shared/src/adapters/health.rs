//! The health probe against the real dependencies: every table and the queue, concurrently.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::ports::{DependencyCheck, HealthProbe};

/// Each dependency gets this long before it is reported as timed out.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct AwsHealthProbe {
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    config: Config,
}

impl AwsHealthProbe {
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        config: Config,
    ) -> Self {
        Self {
            dynamodb,
            sqs,
            config,
        }
    }
}

async fn timed(
    name: &'static str,
    check: impl Future<Output = Result<(), String>>,
) -> DependencyCheck {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(outcome) => outcome,
        Err(_) => Err("timed out".to_owned()),
    };
    // The cause (endpoint, table name, SDK message) goes to the log only: /health answers
    // without a token and so says nothing about internals.
    if let Err(error) = &outcome {
        tracing::warn!(dependency = name, %error, "dependency check failed");
    }
    DependencyCheck {
        name,
        healthy: outcome.is_ok(),
        latency_ms: (started.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
    }
}

impl HealthProbe for AwsHealthProbe {
    async fn check_all(&self) -> Vec<DependencyCheck> {
        use super::dynamodb::check_table;
        let (stories, tests, tasks, queue) = tokio::join!(
            timed(
                "storiesTable",
                check_table(&self.dynamodb, &self.config.stories_table)
            ),
            timed(
                "acceptanceTestsTable",
                check_table(&self.dynamodb, &self.config.acceptance_tests_table)
            ),
            timed(
                "codeTasksTable",
                check_table(&self.dynamodb, &self.config.code_tasks_table)
            ),
            timed(
                "codeTasksQueue",
                super::sqs::check_queue(&self.sqs, &self.config.code_tasks_queue_url)
            ),
        );
        vec![stories, tests, tasks, queue]
    }
}
