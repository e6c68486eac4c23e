//! The acceptance-tests table: keyed by story and test id, so a story's tests are one Query.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, ReturnValue, TransactWriteItem, WriteRequest,
};
use chrono::{DateTime, Utc};

use super::stories::{failed_conditions, story_key};
use crate::adapters::expression::UpdateExpression;
use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::history::{Author, HistoryEntry};
use crate::model::AcceptanceTest;
use crate::ports::{AcceptanceTestRepository, MAX_TESTS_PER_STORY, TestChanges, TestUpdateOutcome};

const TESTS: &str = "acceptance tests table";
/// The story attribute counting its acceptance tests (not part of the story's API shape).
const TEST_COUNT: &str = "testCount";
/// The sparse index of keyed tests by their project's ordinal (`keyOf`), for CI uploads.
pub const KEY_INDEX: &str = "keyOf-index";
const KEY_OF: &str = "keyOf";
/// The project's last acceptance-test number, on its story counter item.
const TEST_COUNTER_ATTRIBUTE: &str = "lastTestNumber";

#[derive(Debug, Clone)]
pub struct DynamoAcceptanceTestRepository {
    client: Client,
    table: String,
    stories_table: String,
    /// Where history entries go (the projects table), written in each change's transaction.
    history: Option<String>,
}

/// A test update without a client version that keeps losing races gives up after this many
/// reads.
const UNGUARDED_ATTEMPTS: usize = 16;

impl DynamoAcceptanceTestRepository {
    /// Why the story refused a new test: gone (or being deleted), or full.
    async fn refusal_reason(&self, story_id: u64) -> Result<Error> {
        let story = self
            .client
            .get_item()
            .table_name(&self.stories_table)
            .set_key(Some(story_key(story_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(TESTS, error))?;
        let usable = story
            .item
            .is_some_and(|item| !item.contains_key("deleting"));
        Ok(if usable {
            Error::TooManyTests {
                story_id,
                limit: MAX_TESTS_PER_STORY,
            }
        } else {
            Error::StoryNotFound { id: story_id }
        })
    }

    pub fn new(client: Client, table: impl Into<String>, stories_table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            stories_table: stories_table.into(),
            history: None,
        }
    }

    /// The same, recording every change in `table`'s history items.
    pub fn with_history(mut self, table: impl Into<String>) -> Self {
        self.history = Some(table.into());
        self
    }

    /// The Put of `entry` for a change's transaction, when history is kept.
    fn history_put(&self, entry: Option<&HistoryEntry>) -> Result<Option<TransactWriteItem>> {
        super::history::recorded_in(self.history.as_deref(), entry)
    }

    /// A change a person makes to a test's content or status: read, then written pinned to the
    /// version read together with its history entry.
    async fn update_recorded(
        &self,
        story_id: u64,
        id: &str,
        changes: &TestChanges,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<TestUpdateOutcome> {
        for _ in 0..UNGUARDED_ATTEMPTS {
            let Some(current) = self.get(story_id, id).await? else {
                return Ok(TestUpdateOutcome::NotFound);
            };
            if expected_version.is_some_and(|expected| expected != current.version) {
                return Ok(TestUpdateOutcome::VersionMismatch(current.version));
            }
            let expression = test_update_expression(changes, Some(current.version), now)?;
            let mut after = changes.apply_to(&current);
            after.version += 1;
            after.updated_at = now;
            let author = changes.history_author();
            let entry = HistoryEntry::test_changed(Some(&current), Some(&after), author, now);
            let mut transaction = self.client.transact_write_items().transact_items(
                TransactWriteItem::builder()
                    .update(expression.transaction_update(&self.table, Self::key(story_id, id))?)
                    .build(),
            );
            if let Some(put) = self.history_put(entry.as_ref())? {
                transaction = transaction.transact_items(put);
            }
            match transaction.send().await {
                Ok(_) => return Ok(TestUpdateOutcome::Updated(Box::new(after))),
                Err(error) => match failed_conditions(&error) {
                    Some(_) if expected_version.is_none() => continue,
                    Some(_) => {
                        return Ok(match self.get(story_id, id).await? {
                            Some(current) => TestUpdateOutcome::VersionMismatch(current.version),
                            None => TestUpdateOutcome::NotFound,
                        });
                    }
                    None => return Err(sdk_error(TESTS, error)),
                },
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    fn key(story_id: u64, id: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                "storyId".to_owned(),
                AttributeValue::N(story_id.to_string()),
            ),
            ("id".to_owned(), AttributeValue::S(id.to_owned())),
        ])
    }

    /// Deletes the test as read (pinned to its version) with the story's count and the history
    /// entry in one transaction; `None` when it changed meanwhile and must be read again.
    async fn delete_read(&self, current: &AcceptanceTest, author: &Author) -> Result<Option<bool>> {
        let (story_id, id) = (current.story_id, current.id.as_str());
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::key(story_id, id)))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", AttributeValue::N(current.version.to_string()))
            .build()
            .map_err(|error| Error::Internal(error.to_string()))?;
        // The test and the story's count go together; a story already gone has nothing to count.
        let mut count = UpdateExpression::new();
        count.add_to_count(TEST_COUNT, -1).require_exists("id");
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete).build())
            .transact_items(
                TransactWriteItem::builder()
                    .update(count.transaction_update(&self.stories_table, story_key(story_id))?)
                    .build(),
            );
        let entry = HistoryEntry::test_changed(Some(current), None, author.clone(), Utc::now());
        if let Some(put) = self.history_put(entry.as_ref())? {
            transaction = transaction.transact_items(put);
        }
        match transaction.send().await {
            Ok(_) => Ok(Some(true)),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.first() == Some(&true) => Ok(None),
                Some(failed) if failed.get(1) == Some(&true) => {
                    // An orphan of a story deleted meanwhile: remove it alone.
                    let output = self
                        .client
                        .delete_item()
                        .table_name(&self.table)
                        .set_key(Some(Self::key(story_id, id)))
                        .return_values(ReturnValue::AllOld)
                        .send()
                        .await
                        .map_err(|error| sdk_error(TESTS, error))?;
                    Ok(Some(output.attributes.is_some_and(|old| !old.is_empty())))
                }
                Some(_) => Ok(None),
                None => Err(sdk_error(TESTS, error)),
            },
        }
    }

    async fn write_deletes(&self, requests: Vec<WriteRequest>) -> Result<()> {
        super::batch_write(&self.client, &self.table, requests, TESTS).await
    }
}

/// The update expression of a test change, pinned to `version` when given.
fn test_update_expression(
    changes: &TestChanges,
    version: Option<u64>,
    now: DateTime<Utc>,
) -> Result<UpdateExpression> {
    let mut expression = UpdateExpression::new();
    if let Some(title) = &changes.title {
        expression.set("title", title)?;
    }
    if let Some(given) = &changes.given {
        expression.set("given", given)?;
    }
    if let Some(when) = &changes.when {
        expression.set("when", when)?;
    }
    if let Some(then) = &changes.then {
        expression.set("then", then)?;
    }
    if let Some(status) = &changes.status {
        expression.set("status", status)?;
    }
    if let Some((by, at)) = &changes.status_set {
        expression.set("statusSetBy", by)?;
        expression.set("statusSetAt", at)?;
    }
    if let Some(needs_review) = &changes.needs_review {
        expression.set("needsReview", needs_review)?;
    }
    expression.set("updatedAt", &now)?;
    expression.increment("version");
    expression.require_exists("id");
    if let Some(version) = version {
        expression.require_equals("version", &version)?;
    }
    Ok(expression)
}

fn read_test(item: HashMap<String, AttributeValue>) -> Result<AcceptanceTest> {
    serde_dynamo::from_item(item)
        .map_err(|error| Error::Internal(format!("reading an acceptance test: {error}")))
}

impl AcceptanceTestRepository for DynamoAcceptanceTestRepository {
    async fn allocate_test_key(&self, story_id: u64) -> Result<String> {
        let numbering = crate::project::StoryNumbering::of_story(story_id);
        let number = super::stories::add_one_to_counter(
            &self.client,
            &self.stories_table,
            numbering,
            TEST_COUNTER_ATTRIBUTE,
            TESTS,
        )
        .await?;
        Ok(crate::traceability::test_key(number))
    }

    async fn create(&self, test: &AcceptanceTest, author: &Author) -> Result<()> {
        let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(test)
            .map_err(|error| Error::Internal(format!("serializing a test: {error}")))?;
        if test.key.is_some() {
            let ordinal = crate::project::StoryNumbering::of_story(test.story_id).ordinal;
            item.insert(KEY_OF.to_owned(), AttributeValue::N(ordinal.to_string()));
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(|error| Error::Internal(error.to_string()))?;
        // The story counts its tests in the same transaction, so the limit holds under
        // concurrent creates; the count also proves the story exists and is not being deleted.
        let mut count = UpdateExpression::new();
        count
            .add_to_count(TEST_COUNT, 1)
            .require_exists("id")
            .require_absent("deleting")
            .require_below(TEST_COUNT, MAX_TESTS_PER_STORY);
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        count.transaction_update(&self.stories_table, story_key(test.story_id))?,
                    )
                    .build(),
            );
        let entry = HistoryEntry::test_changed(None, Some(test), author.clone(), test.created_at);
        if let Some(put) = self.history_put(entry.as_ref())? {
            transaction = transaction.transact_items(put);
        }
        let result = transaction.send().await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.get(1) == Some(&true) => {
                    Err(self.refusal_reason(test.story_id).await?)
                }
                Some(failed) if failed.first() == Some(&true) => Err(Error::Internal(format!(
                    "acceptance test id {} already taken",
                    test.id
                ))),
                _ => Err(sdk_error(TESTS, error)),
            },
        }
    }

    async fn get(&self, story_id: u64, id: &str) -> Result<Option<AcceptanceTest>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(story_id, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(TESTS, error))?;
        output.item.map(read_test).transpose()
    }

    async fn list(&self, story_id: u64) -> Result<Vec<AcceptanceTest>> {
        let mut tests = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("storyId = :story")
                .expression_attribute_values(":story", AttributeValue::N(story_id.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| sdk_error(TESTS, error))?;
            for item in output.items.unwrap_or_default() {
                tests.push(read_test(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                tests.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
                return Ok(tests);
            }
        }
    }

    async fn update(
        &self,
        story_id: u64,
        id: &str,
        changes: &TestChanges,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<TestUpdateOutcome> {
        if self.history.is_some() && changes.touches_recorded_fields() {
            return self
                .update_recorded(story_id, id, changes, expected_version, now)
                .await;
        }
        let expression = test_update_expression(changes, expected_version, now)?;
        let result = expression
            .update_item(&self.client, &self.table, Self::key(story_id, id))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(TestUpdateOutcome::Updated(Box::new(read_test(
                output.attributes.unwrap_or_default(),
            )?))),
            Err(SdkError::ServiceError(context))
                if matches!(
                    context.err(),
                    UpdateItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(match self.get(story_id, id).await? {
                    Some(current) => TestUpdateOutcome::VersionMismatch(current.version),
                    None => TestUpdateOutcome::NotFound,
                })
            }
            Err(error) => Err(sdk_error(TESTS, error)),
        }
    }

    async fn delete(&self, story_id: u64, id: &str, author: &Author) -> Result<bool> {
        for _ in 0..UNGUARDED_ATTEMPTS {
            // Read first: the history keeps what the test said.
            let Some(current) = self.get(story_id, id).await? else {
                return Ok(false);
            };
            match self.delete_read(&current, author).await? {
                Some(deleted) => return Ok(deleted),
                None => continue,
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    async fn delete_all(&self, story_id: u64) -> Result<()> {
        let tests = self.list(story_id).await?;
        let requests = tests
            .iter()
            .map(|test| {
                DeleteRequest::builder()
                    .set_key(Some(Self::key(story_id, &test.id)))
                    .build()
                    .map(|delete| WriteRequest::builder().delete_request(delete).build())
                    .map_err(|error| Error::Internal(error.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        self.write_deletes(requests).await
    }

    async fn mark_needs_review(&self, story_id: u64, now: DateTime<Utc>) -> Result<()> {
        let tests = self.list(story_id).await?;
        let flag = TestChanges {
            needs_review: Some(true),
            ..TestChanges::default()
        };
        // A test already flagged stays flagged: writing the flag again would cost a call and
        // change nothing.
        let updates = tests
            .iter()
            .filter(|test| !test.needs_review)
            .map(|test| self.update(story_id, &test.id, &flag, None, now));
        for outcome in futures::future::join_all(updates).await {
            // A test deleted meanwhile needs no review.
            outcome?;
        }
        Ok(())
    }
}
