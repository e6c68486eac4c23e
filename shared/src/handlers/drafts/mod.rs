//! POST /story-drafts and POST /stories/{id}/test-drafts: a model drafts a story (with tests) from
//! an idea, or tests for a story, within a hard budget; whenever there is no usable answer —
//! no model, a timeout, throttling, an answer outside the bounds — the deterministic template
//! answers instead and says why. Nothing is stored but the AI answer in the cache: the person
//! edits the draft and creates it with the existing endpoints.

use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use assistant::Ask;
pub use assistant::{Assistant, Provenance};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, FieldError, Result};
use crate::http::{Operation, json_response, parse_json_body};
use crate::ports::{
    AcceptanceTestRepository, AssistLedger, JsonTask, LanguageModel, ProjectDirectory,
    StoryRepository,
};
use crate::rules::drafts::{
    self, IDEA_MAX_CHARS, IDEA_MIN_WORDS, ParentContext, STORY_MAX_TOKENS, STORY_PROMPT_VERSION,
    STORY_SYSTEM_PROMPT, StoryDraft, TESTS_MAX_TOKENS, TESTS_PROMPT_VERSION, TESTS_SYSTEM_PROMPT,
    TestDraft,
};
use crate::rules::gwt::{GwtHealth, gwt_health};
use crate::rules::invest::{InvestAnalysis, analyze};

/// A draft answers within this, model included: far inside API Gateway's 30 s.
pub const DRAFT_BUDGET: Duration = Duration::from_secs(20);
/// Drafts per person per hour.
pub const STORY_DRAFTS_PER_HOUR: u32 = 30;
pub const TEST_DRAFTS_PER_HOUR: u32 = 60;
fn check_idea(idea: &str, field: &str, required: bool) -> Result<()> {
    let words = idea.split_whitespace().count();
    let problem = if idea.chars().count() > IDEA_MAX_CHARS {
        Some((
            "TOO_LONG",
            format!("an idea is at most {IDEA_MAX_CHARS} characters"),
        ))
    } else if (required || !idea.is_empty()) && words < IDEA_MIN_WORDS {
        Some((
            "TOO_SHORT",
            format!("say the idea in at least {IDEA_MIN_WORDS} words"),
        ))
    } else {
        None
    };
    match problem {
        Some((code, message)) => Err(Error::Validation(vec![FieldError::new(
            field, code, message,
        )])),
        None => Ok(()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StoryDraftBody {
    idea: String,
    parent_id: Option<u64>,
    #[serde(default)]
    regenerate: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoryDraftResponse {
    draft: StoryDraft,
    #[serde(flatten)]
    provenance: Provenance,
    /// The deterministic analyzer on the draft: problems before anything is created.
    invest: InvestAnalysis,
}

pub struct DraftStory<S, M, L, G> {
    stories: S,
    assistant: Assistant<M, L>,
    gate: Gate<G>,
}

impl<S, M, L, G> DraftStory<S, M, L, G> {
    pub fn new(stories: S, model: M, ledger: L, gate: Gate<G>) -> Self {
        Self {
            stories,
            assistant: Assistant { model, ledger },
            gate,
        }
    }
}

impl<S, M, L, G> Operation for DraftStory<S, M, L, G>
where
    S: StoryRepository,
    M: LanguageModel,
    L: AssistLedger,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::UseAiAssist)
            .await?;
        let body: StoryDraftBody = parse_json_body(&request)?;
        let idea = body.idea.trim().to_owned();
        check_idea(&idea, "idea", true)?;
        let parent = match body.parent_id {
            Some(id) => {
                let story = match access.story(id) {
                    Ok(id) => self.stories.get(id).await?,
                    Err(_) => None,
                }
                .ok_or(Error::ParentNotFound { id })?;
                Some(ParentContext {
                    title: story.title,
                    as_a: story.as_a,
                    so_that: story.so_that,
                })
            }
            None => None,
        };
        let task = JsonTask {
            operation: "story-draft",
            system: STORY_SYSTEM_PROMPT,
            user: drafts::story_user_message(&idea, parent.as_ref()),
            tool_name: "submit_story_draft",
            tool_description: "Submit the drafted user story with its acceptance tests.",
            schema: drafts::story_schema(),
            max_tokens: STORY_MAX_TOKENS,
            temperature: 0.3,
            budget: DRAFT_BUDGET,
        };
        let asked = Ask {
            caller: access.caller.sub,
            limit_per_hour: STORY_DRAFTS_PER_HOUR,
            regenerate: body.regenerate,
            prompt_version: STORY_PROMPT_VERSION,
            task,
        };
        let (draft, provenance) = self
            .assistant
            .draft(asked, drafts::read_story_answer, || {
                drafts::template_story(&idea, parent.as_ref())
            })
            .await?;
        let (story, tests) = drafts::as_story(&draft);
        let invest = analyze(&story, &tests);
        Ok(json_response(
            StatusCode::OK,
            &StoryDraftResponse {
                draft,
                provenance,
                invest,
            },
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TestDraftBody {
    idea: Option<String>,
    #[serde(default)]
    regenerate: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DraftedTest {
    #[serde(flatten)]
    test: TestDraft,
    gwt_health: GwtHealth,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TestDraftResponse {
    acceptance_tests: Vec<DraftedTest>,
    #[serde(flatten)]
    provenance: Provenance,
}

pub struct DraftTests<S, T, M, L, G> {
    stories: S,
    tests: T,
    assistant: Assistant<M, L>,
    gate: Gate<G>,
}

impl<S, T, M, L, G> DraftTests<S, T, M, L, G> {
    pub fn new(stories: S, tests: T, model: M, ledger: L, gate: Gate<G>) -> Self {
        Self {
            stories,
            tests,
            assistant: Assistant { model, ledger },
            gate,
        }
    }
}

impl<S, T, M, L, G> Operation for DraftTests<S, T, M, L, G>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    M: LanguageModel,
    L: AssistLedger,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::UseAiAssist)
            .await?;
        let story_id = access.path_story(&request)?;
        let empty = request.body().as_ref().iter().all(u8::is_ascii_whitespace);
        let body: TestDraftBody = if empty {
            TestDraftBody::default()
        } else {
            parse_json_body(&request)?
        };
        let idea = body
            .idea
            .map(|idea| idea.trim().to_owned())
            .filter(|idea| !idea.is_empty());
        if let Some(idea) = &idea {
            check_idea(idea, "idea", false)?;
        }
        let (story, tests) = tokio::join!(self.stories.get(story_id), self.tests.list(story_id));
        let story = story?.ok_or(Error::StoryNotFound { id: story_id })?;
        let tests = tests?;
        let task = JsonTask {
            operation: "test-draft",
            system: TESTS_SYSTEM_PROMPT,
            user: drafts::tests_user_message(&story, &tests, idea.as_deref()),
            tool_name: "submit_acceptance_tests",
            tool_description: "Submit the drafted acceptance tests.",
            schema: drafts::tests_answer_schema(),
            max_tokens: TESTS_MAX_TOKENS,
            temperature: 0.3,
            budget: DRAFT_BUDGET,
        };
        let asked = Ask {
            caller: access.caller.sub,
            limit_per_hour: TEST_DRAFTS_PER_HOUR,
            regenerate: body.regenerate,
            prompt_version: TESTS_PROMPT_VERSION,
            task,
        };
        let (drafted, provenance) = self
            .assistant
            .draft(asked, drafts::read_tests_answer, || {
                drafts::template_tests(&story, idea.as_deref())
            })
            .await?;
        let acceptance_tests = drafted
            .into_iter()
            .map(|test| DraftedTest {
                gwt_health: gwt_health(&test.given, &test.when, &test.then),
                test,
            })
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &TestDraftResponse {
                acceptance_tests,
                provenance,
            },
        ))
    }
}

mod assistant;
#[cfg(test)]
mod tests;
