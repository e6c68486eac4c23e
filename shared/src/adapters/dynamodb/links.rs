//! A project's links between stories in DynamoDB: one item of the projects table,
//! `pk = links#<project id>, sk = graph`, holding every link and a version. A change is one
//! transaction with the linking story's version bump and a check on every linked story, so a
//! link never lands on a story that is being deleted and never lands without its If-Match.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};

use super::projects::{Item, key, with_key};
use super::stories::{STORIES, USABLE_PARENT, failed_conditions};
use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::ports::{LinkStore, LinkWrite};
use crate::rules::dependencies::LinkGraph;

const PROJECTS: &str = "projects table";
/// The graph is written only if the stored one is still at `:expected` (absent counts as
/// version 0).
const GRAPH_UNCHANGED: &str = "attribute_not_exists(pk) OR version = :expected";
/// A forget that keeps losing races to link writes gives up after this many reads (503).
const FORGET_ATTEMPTS: usize = 8;

#[derive(Debug, Clone)]
pub struct DynamoLinks {
    client: Client,
    projects_table: String,
    stories_table: String,
}

impl DynamoLinks {
    pub fn new(
        client: Client,
        projects_table: impl Into<String>,
        stories_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            projects_table: projects_table.into(),
            stories_table: stories_table.into(),
        }
    }

    fn graph_key(project_id: &str) -> Item {
        key(format!("links#{project_id}"), "graph".to_owned())
    }

    /// The graph item as stored; one write of it is conditioned on [`GRAPH_UNCHANGED`].
    fn graph_item(project_id: &str, graph: &LinkGraph) -> Result<Item> {
        with_key(graph, Self::graph_key(project_id))
    }

    /// The graph put of a link change's transaction.
    fn put_graph(&self, project_id: &str, graph: &LinkGraph, expected: u64) -> Result<Put> {
        Put::builder()
            .table_name(&self.projects_table)
            .set_item(Some(Self::graph_item(project_id, graph)?))
            .condition_expression(GRAPH_UNCHANGED)
            .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
            .build()
            .map_err(|error| Error::Internal(format!("building the links put: {error}")))
    }
}

fn story_key(id: u64) -> Item {
    Item::from([("id".to_owned(), AttributeValue::N(id.to_string()))])
}

impl LinkStore for DynamoLinks {
    async fn graph(&self, project_id: &str) -> Result<LinkGraph> {
        let output = self
            .client
            .get_item()
            .table_name(&self.projects_table)
            .set_key(Some(Self::graph_key(project_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(PROJECTS, error))?;
        match output.item {
            Some(item) => serde_dynamo::from_item(item)
                .map_err(|error| Error::Internal(format!("reading the link graph: {error}"))),
            None => Ok(LinkGraph::default()),
        }
    }

    async fn write(&self, project_id: &str, write: &LinkWrite<'_>) -> Result<bool> {
        let graph = LinkGraph {
            version: write.graph_version + 1,
            links: write.links.to_vec(),
        };
        let now = serde_dynamo::to_attribute_value(write.now)
            .map_err(|error| Error::Internal(format!("serializing a time: {error}")))?;
        let story = Update::builder()
            .table_name(&self.stories_table)
            .set_key(Some(story_key(write.story_id)))
            .update_expression("SET version = version + :one, updatedAt = :now, updatedBy = :by")
            .condition_expression(format!("{USABLE_PARENT} AND version = :expected"))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", now)
            .expression_attribute_values(":by", AttributeValue::S(write.updated_by.to_owned()))
            .expression_attribute_values(
                ":expected",
                AttributeValue::N(write.story_version.to_string()),
            )
            .build()
            .map_err(|error| Error::Internal(format!("building the story update: {error}")))?;
        let mut items = vec![
            TransactWriteItem::builder()
                .put(self.put_graph(project_id, &graph, write.graph_version)?)
                .build(),
            TransactWriteItem::builder().update(story).build(),
        ];
        if let Some(entry) = write.entry {
            items.push(super::history::history_put(&self.projects_table, entry)?);
        }
        for id in write.linked {
            let check = ConditionCheck::builder()
                .table_name(&self.stories_table)
                .set_key(Some(story_key(*id)))
                .condition_expression(USABLE_PARENT)
                .build()
                .map_err(|error| Error::Internal(format!("building a link check: {error}")))?;
            items.push(TransactWriteItem::builder().condition_check(check).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error)
                if failed_conditions(&error).is_some_and(|failed| failed.contains(&true)) =>
            {
                Ok(false)
            }
            Err(error) => Err(sdk_error(STORIES, error)),
        }
    }

    async fn forget(&self, project_id: &str, ids: &[u64]) -> Result<()> {
        let gone = ids.iter().copied().collect();
        for _ in 0..FORGET_ATTEMPTS {
            let graph = self.graph(project_id).await?;
            let links = graph.without(&gone);
            if links.len() == graph.links.len() {
                return Ok(());
            }
            let next = LinkGraph {
                version: graph.version + 1,
                links,
            };
            let result = self
                .client
                .put_item()
                .table_name(&self.projects_table)
                .set_item(Some(Self::graph_item(project_id, &next)?))
                .condition_expression(GRAPH_UNCHANGED)
                .expression_attribute_values(
                    ":expected",
                    AttributeValue::N(graph.version.to_string()),
                )
                .send()
                .await;
            if super::put_condition_held(PROJECTS, result)? {
                return Ok(());
            }
        }
        Err(Error::DependencyUnavailable {
            dependency: PROJECTS,
            message: "the project's links kept changing; repeat the delete to finish".into(),
        })
    }
}
