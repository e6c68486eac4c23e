//! Ports: the small capabilities handlers ask for. Each handler takes only the ports it uses,
//! which mirrors the IAM policy its function gets in template.yaml.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::Result;
use crate::model::{NewStory, Story};
use crate::pagination::{Page, StoryListQuery};

pub trait StoryRepository: Send + Sync + 'static {
    /// Stores a new story under a freshly allocated id. Fails with `ParentNotFound` when the
    /// parent does not exist at the moment of writing.
    fn create(
        &self,
        story: NewStory,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Story>> + Send;

    fn get(&self, id: u64) -> impl Future<Output = Result<Option<Story>>> + Send;

    fn list(&self, query: &StoryListQuery) -> impl Future<Output = Result<Page<Story>>> + Send;
}

/// Whether one dependency answered, and how fast.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyCheck {
    pub name: &'static str,
    pub healthy: bool,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub trait HealthProbe: Send + Sync + 'static {
    /// Checks every dependency, concurrently, each within its own time limit.
    fn check_all(&self) -> impl Future<Output = Vec<DependencyCheck>> + Send;
}
