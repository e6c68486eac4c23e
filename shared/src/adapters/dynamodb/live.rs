//! The live channel's table: tickets (`pk = ticket#<sha-256>`), each project's open sockets
//! (`pk = project#<ordinal>`, `sk = connection#<id>`, read with one Query per broadcast) and a
//! pointer from each socket to its project (`pk = connection#<id>`), for `$disconnect`, which
//! names only the socket. Every item carries `expiresAt`, the table's TTL attribute, so a
//! ticket never used and a socket whose `$disconnect` was lost go by themselves.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::dynamodb::stories::failed_conditions;
use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::live::{CONNECTION_SECONDS, Listener, LiveConnection, LiveTicket};
use crate::ports::LiveRegistry;

const DEPENDENCY: &str = "DynamoDB";

/// A stored ticket or socket: who it is for and when it goes.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    pk: String,
    sk: String,
    #[serde(flatten)]
    listener: Listener,
    /// Epoch seconds (the TTL attribute).
    expires_at: i64,
}

fn project_partition(ordinal: u32) -> String {
    format!("project#{ordinal}")
}

fn connection_key(id: &str) -> String {
    format!("connection#{id}")
}

fn built<T, E: std::fmt::Display>(result: std::result::Result<T, E>) -> Result<T> {
    result.map_err(|error| Error::Internal(format!("building a live-channel request: {error}")))
}

fn to_item(stored: &Stored) -> Result<HashMap<String, AttributeValue>> {
    serde_dynamo::to_item(stored)
        .map_err(|error| Error::Internal(format!("serializing a live-channel item: {error}")))
}

fn key(pk: String, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct DynamoLiveRegistry {
    client: Client,
    table: String,
}

impl DynamoLiveRegistry {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, key: HashMap<String, AttributeValue>) -> Result<Option<Stored>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| sdk_error(DEPENDENCY, error))?;
        output
            .item
            .map(serde_dynamo::from_item)
            .transpose()
            .map_err(|error| Error::Internal(format!("reading a live-channel item: {error}")))
    }
}

impl LiveRegistry for DynamoLiveRegistry {
    async fn put_ticket(&self, ticket: &LiveTicket) -> Result<()> {
        let item = to_item(&Stored {
            pk: format!("ticket#{}", ticket.digest),
            sk: "ticket".into(),
            listener: ticket.listener.clone(),
            expires_at: ticket.expires_at.timestamp(),
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|error| sdk_error(DEPENDENCY, error))?;
        Ok(())
    }

    async fn redeem(
        &self,
        digest: &str,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LiveConnection>> {
        let ticket_key = key(format!("ticket#{digest}"), "ticket");
        let Some(ticket) = self.get(ticket_key.clone()).await? else {
            return Ok(None);
        };
        if at(ticket.expires_at) <= now {
            return Ok(None);
        }
        let expires_at = (now + Duration::seconds(CONNECTION_SECONDS)).timestamp();
        let socket = to_item(&Stored {
            pk: project_partition(ticket.listener.project_ordinal),
            sk: connection_key(connection_id),
            listener: ticket.listener.clone(),
            expires_at,
        })?;
        let pointer = to_item(&Stored {
            pk: connection_key(connection_id),
            sk: "connection".into(),
            listener: ticket.listener.clone(),
            expires_at,
        })?;
        // The ticket goes in the same transaction that records the socket, on the condition
        // that it is still there: of two sockets racing with one ticket, one opens.
        let used = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(ticket_key))
                .condition_expression("attribute_exists(pk)")
                .build(),
        )?;
        let puts = [socket, pointer].map(|item| {
            built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .build(),
            )
            .map(|put| TransactWriteItem::builder().put(put).build())
        });
        let mut items = vec![TransactWriteItem::builder().delete(used).build()];
        for put in puts {
            items.push(put?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Some(LiveConnection {
                id: connection_id.to_owned(),
                listener: ticket.listener,
                expires_at: at(expires_at),
            })),
            Err(error) if failed_conditions(&error).is_some_and(|failed| failed[0]) => Ok(None),
            Err(error) => Err(sdk_error(DEPENDENCY, error)),
        }
    }

    async fn forget(&self, connection_id: &str) -> Result<()> {
        let pointer_key = key(connection_key(connection_id), "connection");
        let Some(pointer) = self.get(pointer_key.clone()).await? else {
            return Ok(());
        };
        let socket_key = key(
            project_partition(pointer.listener.project_ordinal),
            &connection_key(connection_id),
        );
        let mut items = Vec::new();
        for key in [pointer_key, socket_key] {
            let delete = built(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|error| sdk_error(DEPENDENCY, error))?;
        Ok(())
    }

    async fn listening(&self, project_ordinal: u32) -> Result<Vec<LiveConnection>> {
        let now = Utc::now().timestamp();
        let mut connections = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(project_partition(project_ordinal)),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| sdk_error(DEPENDENCY, error))?;
            for item in output.items.unwrap_or_default() {
                let stored: Stored = serde_dynamo::from_item(item).map_err(|error| {
                    Error::Internal(format!("reading a live connection: {error}"))
                })?;
                // TTL deletes within days, not at once: an expired socket is skipped here.
                if stored.expires_at <= now {
                    continue;
                }
                let id = stored
                    .sk
                    .strip_prefix("connection#")
                    .unwrap_or_default()
                    .to_owned();
                connections.push(LiveConnection {
                    id,
                    listener: stored.listener,
                    expires_at: at(stored.expires_at),
                });
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(connections);
            }
        }
    }
}
