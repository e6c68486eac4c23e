//! The review request and the reviewer with a scripted model: once per content, the score from
//! the verdicts, failures, retries, and a changed story superseding its request.

use super::*;
use crate::adapters::language_model::ScriptedLanguageModel;
use crate::adapters::memory::{MemoryLedger, MemoryStore};
use crate::handlers::test_support::{error_code, json, request, seed_story, seed_test, with_path};
use crate::http::respond;
use crate::ports::{JsonAnswer, StoryChanges};
use crate::rules::review::sample_answer;
use lambda_http::http::Method;
use serde_json::Value;

fn answering(value: Value) -> ScriptedLanguageModel {
    ScriptedLanguageModel::answering(vec![Ok(JsonAnswer {
        value,
        model: "test-model".into(),
        input_tokens: 800,
        output_tokens: 400,
    })])
}

fn ask(
    store: &MemoryStore,
    enabled: bool,
) -> RequestInvestReview<
    MemoryStore,
    MemoryStore,
    MemoryStore,
    MemoryLedger,
    crate::adapters::memory_projects::MemoryProjects,
> {
    RequestInvestReview::new(
        store.clone(),
        store.clone(),
        store.clone(),
        MemoryLedger::default(),
        enabled,
        crate::adapters::memory_projects::local_gate(),
    )
}

fn post(story: u64) -> Request {
    with_path(request(Method::POST, "/x", ""), "id", &story.to_string())
}

fn queued(store: &MemoryStore) -> Vec<ReviewRequest> {
    store
        .sent_task_ids()
        .iter()
        .filter_map(|sent| sent.strip_prefix("review:"))
        .map(|rest| {
            let (id, hash) = rest.split_once(':').unwrap();
            ReviewRequest {
                story_id: id.parse().unwrap(),
                content_hash: hash.into(),
            }
        })
        .collect()
}

#[tokio::test]
async fn a_review_runs_once_per_content_and_scores_from_the_verdicts() {
    let store = MemoryStore::new();
    let story = seed_story(&store, "Export", None).await;
    seed_test(&store, story.id, "a file is downloaded").await;
    let operation = ask(&store, true);
    let accepted = respond(&operation, post(story.id)).await;
    assert_eq!(accepted.status(), 202);
    assert_eq!(json(&accepted)["status"], "pending");
    let again = respond(&operation, post(story.id)).await;
    assert_eq!(
        again.status(),
        202,
        "a pending review is not asked for twice"
    );
    assert_eq!(queued(&store).len(), 1);

    let model = answering(sample_answer([
        "pass", "pass", "pass", "concern", "pass", "fail",
    ]));
    let reviewer = InvestReviewer::new(store.clone(), store.clone(), model.clone());
    assert_eq!(
        reviewer.review(&queued(&store)[0]).await.unwrap(),
        Reviewed::Done
    );
    assert_eq!(model.asked()[0].temperature, 0.0);
    let reviewed = StoryRepository::get(&store, story.id)
        .await
        .unwrap()
        .unwrap();
    let review = reviewed.ai_review.unwrap();
    assert_eq!(review.status, ReviewStatus::Done);
    assert_eq!(review.score, Some(75));
    assert_eq!(review.model.as_deref(), Some("test-model"));
    assert_eq!(
        reviewed.version, story.version,
        "a review is not an edit of the story"
    );

    let current = respond(&operation, post(story.id)).await;
    assert_eq!(current.status(), 200);
    assert_eq!(json(&current)["status"], "current");
    assert_eq!(json(&current)["aiReview"]["score"], 75);

    // A changed story is reviewed again, and the old request no longer applies.
    let old = queued(&store)[0].content_hash.clone();
    let edit = StoryChanges {
        so_that: Some("the team sees every change in one file".into()),
        ..StoryChanges::default()
    };
    StoryRepository::update(&store, story.id, &edit, &Default::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(respond(&operation, post(story.id)).await.status(), 202);
    let stale = ReviewRequest {
        story_id: story.id,
        content_hash: old,
    };
    assert_eq!(reviewer.review(&stale).await.unwrap(), Reviewed::Superseded);
}

#[tokio::test]
async fn failures_are_recorded_or_retried_and_off_is_409() {
    let store = MemoryStore::new();
    let story = seed_story(&store, "Export", None).await;
    let off = respond(&ask(&store, false), post(story.id)).await;
    assert_eq!(off.status(), 409);
    assert_eq!(error_code(&off), "AI_DISABLED");
    assert_eq!(
        error_code(&respond(&ask(&store, true), post(99)).await),
        "STORY_NOT_FOUND"
    );

    respond(&ask(&store, true), post(story.id)).await;
    let request = &queued(&store)[0];
    let busy = InvestReviewer::new(
        store.clone(),
        store.clone(),
        ScriptedLanguageModel::answering(vec![Err(AiFailure::Throttled)]),
    );
    assert_eq!(busy.review(request).await.unwrap(), Reviewed::Retry);
    let pending = StoryRepository::get(&store, story.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.ai_review.unwrap().status, ReviewStatus::Pending);

    let broken = InvestReviewer::new(
        store.clone(),
        store.clone(),
        answering(json!({"score": 100})),
    );
    assert_eq!(
        broken.review(request).await.unwrap(),
        Reviewed::Failed("invalid_output")
    );
    let failed = StoryRepository::get(&store, story.id)
        .await
        .unwrap()
        .unwrap()
        .ai_review
        .unwrap();
    assert_eq!(
        (failed.status, failed.failure.as_deref()),
        (ReviewStatus::Failed, Some("invalid_output"))
    );
    assert_eq!(failed.score, None);

    // A failed review is asked for again on request.
    assert_eq!(
        respond(&ask(&store, true), post(story.id)).await.status(),
        202
    );
    assert_eq!(queued(&store).len(), 2);
}
