//! POST /stories/{id}/invest-review, and the reviewer behind its queue: the AI INVEST review runs
//! off the request path (202, then the `aiReview` on the story), once per version of the story's
//! content: a repeated request for unchanged content answers the stored review at once.

use chrono::{Duration as ChronoDuration, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::http::{Operation, json_response};
use crate::model::{AiReview, ReviewStatus};
use crate::ports::{
    AcceptanceTestRepository, AiFailure, Allowance, AssistLedger, JsonTask, LanguageModel,
    ProjectDirectory, ReviewQueue, StoryRepository,
};
use crate::rules::review::{
    REVIEW_MAX_TOKENS, REVIEW_PROMPT_VERSION, REVIEW_SYSTEM_PROMPT, content_hash,
    read_review_answer, review_schema, review_user_message, score,
};

/// Reviews per person per hour.
pub const REVIEWS_PER_HOUR: u32 = 30;
/// The reviewer's model call ends by then (the function's own limit is 60 s).
pub const REVIEW_BUDGET: std::time::Duration = std::time::Duration::from_secs(45);
/// A pending review older than this is asked for again (its message may be lost).
const PENDING_FOR_MINUTES: i64 = 10;

pub struct RequestInvestReview<S, T, Q, L, G> {
    stories: S,
    tests: T,
    queue: Q,
    ledger: L,
    /// Whether the stage has a language model at all.
    enabled: bool,
    gate: Gate<G>,
}

impl<S, T, Q, L, G> RequestInvestReview<S, T, Q, L, G> {
    pub fn new(stories: S, tests: T, queue: Q, ledger: L, enabled: bool, gate: Gate<G>) -> Self {
        Self {
            stories,
            tests,
            queue,
            ledger,
            enabled,
            gate,
        }
    }
}

impl<S, T, Q, L, G> Operation for RequestInvestReview<S, T, Q, L, G>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    Q: ReviewQueue,
    L: AssistLedger,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::UseAiAssist)
            .await?;
        let story_id = access.path_story(&request)?;
        if !self.enabled {
            return Err(Error::AiDisabled);
        }
        let (story, tests) = tokio::join!(self.stories.get(story_id), self.tests.list(story_id));
        let story = story?.ok_or(Error::StoryNotFound { id: story_id })?;
        let hash = content_hash(&story, &tests?);
        let now = Utc::now();
        if let Some(review) = &story.ai_review
            && review.content_hash == hash
        {
            let waiting = review.status == ReviewStatus::Pending
                && review.requested_at > now - ChronoDuration::minutes(PENDING_FOR_MINUTES);
            if review.status == ReviewStatus::Done {
                return Ok(json_response(
                    StatusCode::OK,
                    &json!({"status": "current", "contentHash": hash, "aiReview": review}),
                ));
            }
            if waiting {
                return Ok(json_response(
                    StatusCode::ACCEPTED,
                    &json!({"status": "pending", "contentHash": hash}),
                ));
            }
        }
        let caller = access.caller.sub;
        if let Allowance::Exhausted {
            retry_after_seconds,
        } = self
            .ledger
            .take_allowance(&caller, "invest-review", REVIEWS_PER_HOUR, now)
            .await?
        {
            return Err(Error::RateLimited {
                operation: "invest-review",
                limit: REVIEWS_PER_HOUR,
                retry_after_seconds,
            });
        }
        let pending = AiReview {
            status: ReviewStatus::Pending,
            content_hash: hash.clone(),
            requested_at: now,
            completed_at: None,
            score: None,
            criteria: Vec::new(),
            summary: None,
            model: None,
            prompt_version: REVIEW_PROMPT_VERSION.into(),
            failure: None,
        };
        if !self
            .stories
            .record_ai_review(story_id, &pending, None)
            .await?
        {
            return Err(Error::StoryNotFound { id: story_id });
        }
        self.queue.send_review(story_id, &hash).await?;
        Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({"status": "pending", "contentHash": hash}),
        ))
    }
}

/// One queued review request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRequest {
    pub story_id: u64,
    pub content_hash: String,
}

/// What became of one request; `Retry` leaves the message for the queue to deliver again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reviewed {
    Done,
    Failed(&'static str),
    /// The story changed or went away since the request: a newer request covers it.
    Superseded,
    Retry,
}

pub struct InvestReviewer<S, T, M> {
    stories: S,
    tests: T,
    model: M,
}

impl<S, T, M> InvestReviewer<S, T, M>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    M: LanguageModel,
{
    pub fn new(stories: S, tests: T, model: M) -> Self {
        Self {
            stories,
            tests,
            model,
        }
    }

    /// One queue message: true when it is done with (reviewed, failed for good, superseded, or
    /// unreadable), false to have the queue deliver it again.
    pub async fn handle_message(&self, body: serde_json::Value) -> bool {
        let Ok(request) = serde_json::from_value::<ReviewRequest>(body) else {
            // Retrying a message this function cannot read would not help.
            tracing::error!("an unreadable review request was dropped");
            return true;
        };
        match self.review(&request).await {
            Ok(Reviewed::Retry) => false,
            Ok(outcome) => {
                tracing::info!(story_id = request.story_id, ?outcome, "review handled");
                true
            }
            Err(error) => {
                tracing::warn!(story_id = request.story_id, %error, "review failed; it comes back");
                false
            }
        }
    }

    pub async fn review(&self, request: &ReviewRequest) -> Result<Reviewed> {
        let (story, tests) = tokio::join!(
            self.stories.get(request.story_id),
            self.tests.list(request.story_id)
        );
        let (Some(story), tests) = (story?, tests?) else {
            return Ok(Reviewed::Superseded);
        };
        if content_hash(&story, &tests) != request.content_hash {
            return Ok(Reviewed::Superseded);
        }
        let Some(requested) = story.ai_review.clone() else {
            return Ok(Reviewed::Superseded);
        };
        let task = JsonTask {
            operation: "invest-review",
            system: REVIEW_SYSTEM_PROMPT,
            user: review_user_message(&story, &tests),
            tool_name: "submit_invest_review",
            tool_description: "Submit the verdict on each INVEST criterion and a summary.",
            schema: review_schema(),
            max_tokens: REVIEW_MAX_TOKENS,
            temperature: 0.0,
            budget: REVIEW_BUDGET,
        };
        let mut review = AiReview {
            completed_at: Some(Utc::now()),
            ..requested
        };
        let outcome = match self.model.complete_json(&task).await {
            Err(AiFailure::Throttled | AiFailure::Timeout | AiFailure::Unavailable(_)) => {
                crate::telemetry::count_ai_outcome("invest-review", Some("retry"), (0, 0));
                return Ok(Reviewed::Retry);
            }
            Err(failure) => {
                crate::telemetry::count_ai_outcome("invest-review", Some(failure.reason()), (0, 0));
                review.status = ReviewStatus::Failed;
                review.failure = Some(failure.reason().into());
                Reviewed::Failed(failure.reason())
            }
            Ok(answer) => {
                let tokens = (answer.input_tokens, answer.output_tokens);
                match read_review_answer(answer.value) {
                    Ok((criteria, summary)) => {
                        crate::telemetry::count_ai_outcome("invest-review", None, tokens);
                        review.status = ReviewStatus::Done;
                        review.score = Some(score(&criteria));
                        review.criteria = criteria;
                        review.summary = Some(summary);
                        review.model = Some(answer.model);
                        Reviewed::Done
                    }
                    Err(problem) => {
                        tracing::warn!(%problem, "the model's review broke the bounds");
                        crate::telemetry::count_ai_outcome(
                            "invest-review",
                            Some("invalid_output"),
                            tokens,
                        );
                        review.status = ReviewStatus::Failed;
                        review.failure = Some("invalid_output".into());
                        Reviewed::Failed("invalid_output")
                    }
                }
            }
        };
        // Written only over the request it answers: a newer request's review is never replaced.
        let written = self
            .stories
            .record_ai_review(request.story_id, &review, Some(&request.content_hash))
            .await?;
        Ok(if written {
            outcome
        } else {
            Reviewed::Superseded
        })
    }
}

#[cfg(test)]
mod tests;
