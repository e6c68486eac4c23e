//! The trash in the projects table. A delete copies the raw items of its stories and their
//! acceptance tests, and the links touching them, into `pk = trash#<project>#<top>` (one item
//! each, the first copy kept), then writes the head `pk = trash#<project>, sk = <top>` with the
//! delete's history entry. Every trash item carries `purgeAt`, the table's TTL attribute, 30
//! days on. A restore puts the items back as they were and ends with one transaction: the head
//! gone, the parent's counters, the link graph and the restore's history entry.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, Put, TransactWriteItem, Update, WriteRequest,
};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use super::projects::{Item, key};
use super::stories::{USABLE_PARENT, failed_conditions, story_key};
use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::history::{Author, HistoryEntry};
use crate::ports::{Restored, TRASH_DAYS, TrashBin, TrashedStory};
use crate::rules::dependencies::{Link, LinkGraph};

const TRASH: &str = "trash";
/// The projects table's TTL attribute (epoch seconds).
pub const PURGE_AT: &str = "purgeAt";
/// Reads in flight at once while copying a subtree.
const READS_IN_FLIGHT: usize = 16;
/// A restore whose last transaction keeps meeting changes (a link written, the parent going)
/// gives up after this many tries (503); repeating it continues.
const RESTORE_ATTEMPTS: usize = 5;

#[derive(Debug, Clone)]
pub struct DynamoTrash {
    client: Client,
    projects_table: String,
    stories_table: String,
    tests_table: String,
}

fn head_key(project_id: &str, top: u64) -> Item {
    key(format!("trash#{project_id}"), format!("{top:020}"))
}

fn parts_partition(project_id: &str, top: u64) -> String {
    format!("trash#{project_id}#{top}")
}

fn number(item: &Item, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn built<T, E: std::fmt::Display>(result: std::result::Result<T, E>) -> Result<T> {
    result.map_err(|error| Error::Internal(format!("building a trash request: {error}")))
}

impl DynamoTrash {
    pub fn new(
        client: Client,
        projects_table: impl Into<String>,
        stories_table: impl Into<String>,
        tests_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            projects_table: projects_table.into(),
            stories_table: stories_table.into(),
            tests_table: tests_table.into(),
        }
    }

    async fn raw_story(&self, id: u64) -> Result<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.stories_table)
            .set_key(Some(story_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(TRASH, error))?;
        Ok(output.item)
    }

    async fn raw_tests(&self, story_id: u64) -> Result<Vec<Item>> {
        query_all(
            self.client
                .query()
                .table_name(&self.tests_table)
                .key_condition_expression("storyId = :story")
                .expression_attribute_values(":story", AttributeValue::N(story_id.to_string()))
                .consistent_read(true),
        )
        .await
    }

    /// Writes one copy unless one is kept already (the first copy, taken before anything was
    /// removed, is the one with the subtree's counters whole).
    async fn keep_part(&self, item: Item) -> Result<()> {
        let result = self
            .client
            .put_item()
            .table_name(&self.projects_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        super::put_condition_held(TRASH, result).map(|_| ())
    }

    fn part(
        &self,
        partition: &str,
        sort: String,
        name: &str,
        value: AttributeValue,
        purge: i64,
    ) -> Item {
        let mut item = key(partition.to_owned(), sort);
        item.insert(name.to_owned(), value);
        item.insert(PURGE_AT.to_owned(), AttributeValue::N(purge.to_string()));
        item
    }

    async fn parts(&self, project_id: &str, top: u64) -> Result<Vec<Item>> {
        query_all(
            self.client
                .query()
                .table_name(&self.projects_table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(parts_partition(project_id, top)),
                )
                .consistent_read(true),
        )
        .await
    }

    async fn head(&self, project_id: &str, top: u64) -> Result<Option<TrashedStory>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.projects_table)
            .set_key(Some(head_key(project_id, top)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(TRASH, error))?;
        output.item.map(read_head).transpose()
    }

    async fn forget_parts(&self, project_id: &str, top: u64, parts: &[Item]) -> Result<()> {
        let partition = parts_partition(project_id, top);
        let requests = parts
            .iter()
            .filter_map(|item| item.get("sk").and_then(|sk| sk.as_s().ok()))
            .map(|sort| {
                built(
                    DeleteRequest::builder()
                        .set_key(Some(key(partition.clone(), sort.clone())))
                        .build(),
                )
                .map(|delete| WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>>>()?;
        super::batch_write(&self.client, &self.projects_table, requests, TRASH).await
    }

    /// Puts kept items back, each only where nothing is stored or the same version is (an
    /// earlier, interrupted restore): a record someone changed since is never overwritten.
    async fn put_all(&self, table: &str, items: Vec<Item>) -> Result<()> {
        futures::stream::iter(items)
            .map(|item| async move {
                let version = item
                    .get("version")
                    .cloned()
                    .unwrap_or(AttributeValue::N("0".into()));
                let result = self
                    .client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(id) OR version = :version")
                    .expression_attribute_values(":version", version)
                    .send()
                    .await;
                super::put_condition_held(TRASH, result).map(|_| ())
            })
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    /// Whether a story exists and may take children now.
    async fn usable(&self, id: u64) -> Result<bool> {
        Ok(self
            .raw_story(id)
            .await?
            .is_some_and(|item| !item.contains_key("deleting")))
    }

    async fn graph(&self, project_id: &str) -> Result<LinkGraph> {
        let output = self
            .client
            .get_item()
            .table_name(&self.projects_table)
            .set_key(Some(key(format!("links#{project_id}"), "graph".into())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(TRASH, error))?;
        match output.item {
            Some(item) => serde_dynamo::from_item(item)
                .map_err(|error| Error::Internal(format!("reading the link graph: {error}"))),
            None => Ok(LinkGraph::default()),
        }
    }
}

/// Every item a Query finds, page after page.
async fn query_all(
    request: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = request
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|error| sdk_error(TRASH, error))?;
        items.extend(output.items.unwrap_or_default());
        start = output.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// The head item as the trash shows it.
fn read_head(item: Item) -> Result<TrashedStory> {
    let text = |name: &str| {
        item.get(name)
            .and_then(|value| value.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let time = |name: &str| {
        DateTime::parse_from_rfc3339(&text(name))
            .map(|at| at.with_timezone(&Utc))
            .map_err(|error| Error::Internal(format!("reading a trash head's {name}: {error}")))
    };
    let mut story_ids: Vec<u64> = item
        .get("storyIds")
        .and_then(|value| value.as_ns().ok())
        .map(|ids| ids.iter().filter_map(|id| id.parse().ok()).collect())
        .unwrap_or_default();
    story_ids.sort_unstable();
    let deleted_by: Author = item
        .get("deletedBy")
        .cloned()
        .map(serde_dynamo::from_attribute_value)
        .transpose()
        .map_err(|error| Error::Internal(format!("reading a trash head's author: {error}")))?
        .unwrap_or_else(Author::unknown);
    Ok(TrashedStory {
        story_id: number(&item, "storyId").unwrap_or_default(),
        title: text("title"),
        parent_id: number(&item, "parentId"),
        deleted_at: time("deletedAt")?,
        deleted_by,
        story_ids,
        test_count: item
            .get("testIds")
            .and_then(|value| value.as_ss().ok())
            .map_or(0, Vec::len),
        purge_at: time("purgeAtTime")?,
    })
}

impl TrashBin for DynamoTrash {
    async fn keep(
        &self,
        project_id: &str,
        top: u64,
        ids: &[u64],
        links: &[Link],
        author: &Author,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let purge_at = now + chrono::Duration::days(TRASH_DAYS);
        let purge = purge_at.timestamp();
        let partition = parts_partition(project_id, top);
        let copies: Vec<(u64, Option<Item>, Vec<Item>)> =
            futures::stream::iter(ids.iter().copied())
                .map(|id| async move {
                    let (story, tests) = tokio::try_join!(self.raw_story(id), self.raw_tests(id))?;
                    Ok::<_, Error>((id, story, tests))
                })
                .buffer_unordered(READS_IN_FLIGHT)
                .try_collect()
                .await?;
        let mut parts = Vec::new();
        let mut kept_ids = Vec::new();
        let mut test_ids = Vec::new();
        let mut top_story = None;
        for (id, story, tests) in copies {
            let Some(story) = story else { continue };
            if id == top {
                top_story = Some(story.clone());
            }
            kept_ids.push(id.to_string());
            parts.push(self.part(
                &partition,
                format!("story#{id:020}"),
                "item",
                AttributeValue::M(story),
                purge,
            ));
            for test in tests {
                let test_id = test
                    .get("id")
                    .and_then(|value| value.as_s().ok())
                    .cloned()
                    .unwrap_or_default();
                test_ids.push(format!("{id}/{test_id}"));
                parts.push(self.part(
                    &partition,
                    format!("test#{id:020}#{test_id}"),
                    "item",
                    AttributeValue::M(test),
                    purge,
                ));
            }
        }
        for link in links {
            let value = serde_dynamo::to_attribute_value(link)
                .map_err(|error| Error::Internal(format!("serializing a link: {error}")))?;
            let sort = format!(
                "link#{}#{}#{}",
                link.story,
                link.other,
                serde_json::to_string(&link.kind).unwrap_or_default()
            );
            parts.push(self.part(&partition, sort, "link", value, purge));
        }
        futures::stream::iter(parts)
            .map(|part| self.keep_part(part))
            .buffer_unordered(READS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        if kept_ids.is_empty() {
            return Ok(());
        }

        // The head: created once with the delete's history entry, added to on a repeat.
        let title = top_story
            .as_ref()
            .and_then(|story| story.get("title"))
            .cloned()
            .unwrap_or(AttributeValue::S(String::new()));
        let parent = top_story
            .as_ref()
            .and_then(|story| story.get("parentId"))
            .cloned();
        let by = serde_dynamo::to_attribute_value(author)
            .map_err(|error| Error::Internal(format!("serializing an author: {error}")))?;
        let expression = format!(
            "SET storyId = :top, title = if_not_exists(title, :title), \
             deletedAt = if_not_exists(deletedAt, :at), deletedBy = if_not_exists(deletedBy, :by), \
             purgeAtTime = if_not_exists(purgeAtTime, :purgeTime), \
             {PURGE_AT} = if_not_exists({PURGE_AT}, :purge){} ADD storyIds :ids{}",
            if parent.is_some() {
                ", parentId = if_not_exists(parentId, :parent)"
            } else {
                ""
            },
            if test_ids.is_empty() {
                ""
            } else {
                ", testIds :tests"
            }
        );
        let mut values = HashMap::from([
            (":top".to_owned(), AttributeValue::N(top.to_string())),
            (":title".to_owned(), title.clone()),
            (":at".to_owned(), AttributeValue::S(now.to_rfc3339())),
            (":by".to_owned(), by),
            (
                ":purgeTime".to_owned(),
                AttributeValue::S(purge_at.to_rfc3339()),
            ),
            (":purge".to_owned(), AttributeValue::N(purge.to_string())),
            (":ids".to_owned(), AttributeValue::Ns(kept_ids.clone())),
        ]);
        if let Some(parent) = &parent {
            values.insert(":parent".to_owned(), parent.clone());
        }
        if !test_ids.is_empty() {
            values.insert(":tests".to_owned(), AttributeValue::Ss(test_ids.clone()));
        }
        let head = TrashedStory {
            story_id: top,
            title: title.as_s().cloned().unwrap_or_default(),
            parent_id: parent
                .as_ref()
                .and_then(|value| value.as_n().ok())
                .and_then(|n| n.parse().ok()),
            deleted_at: now,
            deleted_by: author.clone(),
            story_ids: Vec::new(),
            test_count: 0,
            purge_at,
        };
        let entry = HistoryEntry::story_deleted(&head, kept_ids.len(), test_ids.len());
        let first = built(
            Update::builder()
                .table_name(&self.projects_table)
                .set_key(Some(head_key(project_id, top)))
                .update_expression(&expression)
                .condition_expression("attribute_not_exists(pk)")
                .set_expression_attribute_values(Some(values.clone()))
                .build(),
        )?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(first).build())
            .transact_items(super::history::history_put(&self.projects_table, &entry)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match failed_conditions(&error) {
                Some(failed) if failed.first() == Some(&true) => {
                    // A repeated delete: the head and its entry exist; add what is new.
                    self.client
                        .update_item()
                        .table_name(&self.projects_table)
                        .set_key(Some(head_key(project_id, top)))
                        .update_expression(expression)
                        .set_expression_attribute_values(Some(values))
                        .send()
                        .await
                        .map_err(|error| sdk_error(TRASH, error))?;
                    Ok(())
                }
                _ => Err(sdk_error(TRASH, error)),
            },
        }
    }

    async fn trashed(&self, project_id: &str) -> Result<Vec<TrashedStory>> {
        let mut heads = query_all(
            self.client
                .query()
                .table_name(&self.projects_table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(format!("trash#{project_id}")),
                ),
        )
        .await?
        .into_iter()
        .map(read_head)
        .collect::<Result<Vec<_>>>()?;
        // TTL deletes within days of the time, not at it: what is past it is gone already.
        let now = Utc::now();
        heads.retain(|head| head.purge_at > now);
        heads.sort_by_key(|head| std::cmp::Reverse(head.deleted_at));
        Ok(heads)
    }

    async fn trashed_one(&self, project_id: &str, top: u64) -> Result<Option<TrashedStory>> {
        Ok(self
            .head(project_id, top)
            .await?
            .filter(|head| head.purge_at > Utc::now()))
    }

    async fn restore(
        &self,
        project_id: &str,
        top: u64,
        author: &Author,
        now: DateTime<Utc>,
    ) -> Result<Option<Restored>> {
        let Some(head) = self.head(project_id, top).await? else {
            return Ok(None);
        };
        let parts = self.parts(project_id, top).await?;
        let mut stories: Vec<Item> = Vec::new();
        let mut tests: Vec<Item> = Vec::new();
        let mut links: Vec<Link> = Vec::new();
        for part in &parts {
            let sort = part
                .get("sk")
                .and_then(|sk| sk.as_s().ok())
                .map_or("", String::as_str);
            if sort.starts_with("link#") {
                if let Some(link) = part.get("link") {
                    links.push(serde_dynamo::from_attribute_value(link.clone()).map_err(
                        |error| Error::Internal(format!("reading a trashed link: {error}")),
                    )?);
                }
            } else if let Some(AttributeValue::M(item)) = part.get("item") {
                let mut item = item.clone();
                item.remove("deleting");
                if sort.starts_with("story#") {
                    stories.push(item);
                } else {
                    tests.push(item);
                }
            }
        }
        let restored_ids: HashSet<u64> = stories
            .iter()
            .filter_map(|item| number(item, "id"))
            .collect();
        let top_item = stories
            .iter()
            .find(|item| number(item, "id") == Some(top))
            .cloned();
        let Some(mut top_item) = top_item else {
            return Err(Error::Internal(format!(
                "the trash of story {top} holds no copy of it"
            )));
        };
        let mut parent = number(&top_item, "parentId");
        for _ in 0..RESTORE_ATTEMPTS {
            if let Some(id) = parent
                && !self.usable(id).await?
            {
                parent = None;
            }
            if parent.is_none() && number(&top_item, "parentId").is_some() {
                top_item.remove("parentId");
                top_item.insert("rootOf".into(), AttributeValue::N((top >> 32).to_string()));
            }
            let others: Vec<Item> = stories
                .iter()
                .filter(|item| number(item, "id") != Some(top))
                .cloned()
                .collect();
            self.put_all(&self.tests_table, tests.clone()).await?;
            self.put_all(&self.stories_table, others).await?;
            self.put_all(&self.stories_table, vec![top_item.clone()])
                .await?;

            let graph = self.graph(project_id).await?;
            let mut exists: HashMap<u64, bool> =
                restored_ids.iter().map(|id| (*id, true)).collect();
            let mut graph_links = graph.links.clone();
            for link in &links {
                for end in [link.story, link.other] {
                    if let std::collections::hash_map::Entry::Vacant(slot) = exists.entry(end) {
                        slot.insert(self.usable(end).await?);
                    }
                }
                if exists.get(&link.story) == Some(&true)
                    && exists.get(&link.other) == Some(&true)
                    && !graph_links.contains(link)
                {
                    graph_links.push(*link);
                }
            }
            let as_root = head.parent_id.is_some() && parent.is_none();
            let entry = HistoryEntry::story_restored(&head, author.clone(), now, as_root);
            let mut transaction = self.client.transact_write_items().transact_items(
                TransactWriteItem::builder()
                    .delete(built(
                        Delete::builder()
                            .table_name(&self.projects_table)
                            .set_key(Some(head_key(project_id, top)))
                            .condition_expression("attribute_exists(pk)")
                            .build(),
                    )?)
                    .build(),
            );
            transaction = transaction
                .transact_items(super::history::history_put(&self.projects_table, &entry)?);
            let links_changed = graph_links.len() != graph.links.len();
            if links_changed {
                let next = LinkGraph {
                    version: graph.version + 1,
                    links: graph_links,
                };
                let mut item: Item = serde_dynamo::to_item(&next).map_err(|error| {
                    Error::Internal(format!("serializing the link graph: {error}"))
                })?;
                item.extend(key(format!("links#{project_id}"), "graph".into()));
                transaction = transaction.transact_items(
                    TransactWriteItem::builder()
                        .put(built(
                            Put::builder()
                                .table_name(&self.projects_table)
                                .set_item(Some(item))
                                .condition_expression(
                                    "attribute_not_exists(pk) OR version = :expected",
                                )
                                .expression_attribute_values(
                                    ":expected",
                                    AttributeValue::N(graph.version.to_string()),
                                )
                                .build(),
                        )?)
                        .build(),
                );
            }
            if let Some(parent) = parent {
                let done = i64::from(
                    top_item
                        .get("status")
                        .and_then(|s| s.as_s().ok())
                        .is_some_and(|s| s == "Done"),
                );
                transaction = transaction.transact_items(
                    TransactWriteItem::builder()
                        .update(built(
                            Update::builder()
                                .table_name(&self.stories_table)
                                .set_key(Some(story_key(parent)))
                                .update_expression(
                                    "SET childCount = if_not_exists(childCount, :zero) + :one, \
                                     doneChildCount = if_not_exists(doneChildCount, :zero) + :done",
                                )
                                .condition_expression(USABLE_PARENT)
                                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                                .expression_attribute_values(
                                    ":done",
                                    AttributeValue::N(done.to_string()),
                                )
                                .build(),
                        )?)
                        .build(),
                );
            }
            match transaction.send().await {
                Ok(_) => {
                    self.forget_parts(project_id, top, &parts).await?;
                    let mut trashed = head;
                    trashed.parent_id = parent.or(trashed.parent_id);
                    return Ok(Some(Restored { trashed, as_root }));
                }
                Err(error) => match failed_conditions(&error) {
                    // Restored (or purged) by someone else meanwhile.
                    Some(failed) if failed.first() == Some(&true) => return Ok(None),
                    // The graph or the parent changed: read again and go on.
                    Some(_) => continue,
                    None => return Err(sdk_error(TRASH, error)),
                },
            }
        }
        Err(Error::ConcurrentUpdate)
    }

    async fn purge(&self, project_id: &str, top: u64) -> Result<Option<TrashedStory>> {
        let Some(head) = self.head(project_id, top).await? else {
            return Ok(None);
        };
        let parts = self.parts(project_id, top).await?;
        self.forget_parts(project_id, top, &parts).await?;
        self.client
            .delete_item()
            .table_name(&self.projects_table)
            .set_key(Some(head_key(project_id, top)))
            .send()
            .await
            .map_err(|error| sdk_error(TRASH, error))?;
        Ok(Some(head))
    }
}
