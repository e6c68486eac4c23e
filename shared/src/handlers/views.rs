//! Response shapes that add computed analysis to stored records.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::handlers::links::StoryLinksView;
use crate::http::json_response;
use crate::model::{AcceptanceTest, CodeTask, LinkedStory, Story, StorySummary};
use crate::rules::gwt::{GwtHealth, gwt_health};
use crate::rules::invest::{InvestAnalysis, analyze, analyze_linked};

/// A story with its INVEST analysis and, where the operation read them, its tests and children.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoryView<'a> {
    #[serde(flatten)]
    pub story: &'a Story,
    pub invest: InvestAnalysis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acceptance_tests: Option<Vec<TestView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<&'a [StorySummary]>,
    /// The newest code tasks of the story, newest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_tasks: Option<Vec<TaskView<'a>>>,
    /// Whether the story's AI review is about an older version of its content and tests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_review_stale: Option<bool>,
    /// Its links, where the operation read them; `blocked` is derived from them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<StoryLinksView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_blockers: Option<Vec<LinkedStory>>,
    #[serde(skip)]
    tests: &'a [AcceptanceTest],
}

impl<'a> StoryView<'a> {
    pub fn new(story: &'a Story, tests: &'a [AcceptanceTest]) -> Self {
        Self {
            story,
            invest: analyze(story, tests),
            acceptance_tests: None,
            children: None,
            code_tasks: None,
            ai_review_stale: story.ai_review.as_ref().map(|review| {
                review.content_hash != crate::rules::review::content_hash(story, tests)
            }),
            links: None,
            open_blockers: None,
            tests,
        }
    }

    /// Adds the story's links; INVEST's Independent is then judged by them.
    pub fn with_links(mut self, links: StoryLinksView) -> Self {
        self.invest = analyze_linked(self.story, self.tests, Some(&links.blocked_by));
        self.open_blockers = Some(links.open_blockers());
        self.links = Some(links);
        self
    }

    pub fn with_tests(mut self, tests: &'a [AcceptanceTest]) -> Self {
        self.acceptance_tests = Some(tests.iter().map(TestView::new).collect());
        self
    }

    pub fn with_children(mut self, children: &'a [StorySummary]) -> Self {
        self.children = Some(children);
        self
    }

    pub fn with_code_tasks(mut self, tasks: &'a [CodeTask]) -> Self {
        self.code_tasks = Some(tasks.iter().map(TaskView).collect());
        self
    }

    /// The JSON response, with the version as ETag for a later If-Match.
    pub fn respond(&self, status: StatusCode) -> Response<Body> {
        with_etag(json_response(status, self), self.story.version)
    }
}

/// Attributes of a stored task that are bookkeeping between generate-code, the worker and the
/// table (hand-off deadline, request fingerprint, cancel flag), not part of the API.
const INTERNAL_TASK_FIELDS: [&str; 3] = ["handOffUntil", "requestFingerprint", "cancelRequested"];

/// A code task as the API shows it: the stored record without its internal attributes.
pub struct TaskView<'a>(pub &'a CodeTask);

impl Serialize for TaskView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = serde_json::to_value(self.0).map_err(serde::ser::Error::custom)?;
        if let Some(fields) = value.as_object_mut() {
            for name in INTERNAL_TASK_FIELDS {
                fields.remove(name);
            }
        }
        value.serialize(serializer)
    }
}

impl TaskView<'_> {
    pub fn respond(&self, status: StatusCode) -> Response<Body> {
        json_response(status, self)
    }
}

/// An acceptance test with its Given/When/Then health.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestView<'a> {
    #[serde(flatten)]
    pub test: &'a AcceptanceTest,
    pub gwt_health: GwtHealth,
}

impl<'a> TestView<'a> {
    pub fn new(test: &'a AcceptanceTest) -> Self {
        Self {
            test,
            gwt_health: gwt_health(&test.given, &test.when, &test.then),
        }
    }

    pub fn respond(&self, status: StatusCode) -> Response<Body> {
        with_etag(json_response(status, self), self.test.version)
    }
}

fn with_etag(mut response: Response<Body>, version: u64) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
