//! Live updates: POST /projects/{key}/live-tickets lets a person who may view the project open
//! its channel; the WebSocket API's `$connect`, `$disconnect` and `$default` routes (function
//! live-socket) redeem a ticket, forget a closed socket and answer pings; the projects table's
//! stream of history entries (function live-broadcast) becomes a notice on every socket of the
//! entry's project.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::history::HistoryEntry;
use crate::http::{Operation, json_response};
use crate::live::{ChangeNotice, Listener, LiveTicket, TicketSecret};
use crate::ports::{Delivery, LivePush, LiveRegistry, ProjectDirectory};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TicketAnswer {
    ticket: String,
    /// Where to open the socket (`wss://…`); absent when the page's own origin serves it at
    /// `/_live` (the local stack).
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    expires_at: DateTime<Utc>,
}

/// POST /projects/{key}/live-tickets: a one-use ticket, good for a minute, that opens this
/// project's channel for the caller. Browsers cannot send headers with a WebSocket, so the
/// authorized request is this one; `$connect` only redeems what it issued.
pub struct CreateLiveTicket<R, G> {
    registry: R,
    gate: Gate<G>,
    socket_url: Option<String>,
}

impl<R, G> CreateLiveTicket<R, G> {
    pub fn new(registry: R, gate: Gate<G>, socket_url: Option<String>) -> Self {
        Self {
            registry,
            gate,
            socket_url: socket_url.filter(|url| !url.trim().is_empty()),
        }
    }
}

impl<R: LiveRegistry, G: ProjectDirectory> Operation for CreateLiveTicket<R, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::ViewProject)
            .await?;
        let listener = Listener {
            project_id: access.project.id.clone(),
            project_ordinal: access.project.ordinal,
            sub: access.caller.sub.clone(),
            deployment_admin: access.caller.deployment_admin,
        };
        let (secret, ticket) = LiveTicket::issue(listener, Utc::now());
        self.registry.put_ticket(&ticket).await?;
        Ok(json_response(
            StatusCode::CREATED,
            &TicketAnswer {
                ticket: secret.as_str().to_owned(),
                url: self.socket_url.clone(),
                expires_at: ticket.expires_at,
            },
        ))
    }
}

/// The WebSocket API's three routes. Each answers API Gateway's proxy shape; a refused
/// `$connect` (no ticket, a used or expired one) is a 403 and the socket never opens.
pub struct LiveSocket<R> {
    registry: R,
}

fn socket_answer(status: u16, body: Option<Value>) -> Value {
    match body {
        Some(body) => json!({ "statusCode": status, "body": body.to_string() }),
        None => json!({ "statusCode": status }),
    }
}

impl<R: LiveRegistry> LiveSocket<R> {
    pub fn new(registry: R) -> Self {
        Self { registry }
    }

    pub async fn handle(&self, event: &Value) -> Value {
        let context = &event["requestContext"];
        let connection = context["connectionId"].as_str().unwrap_or_default();
        let route = context["routeKey"].as_str().unwrap_or_default();
        let outcome = match route {
            "$connect" => self.connect(event, connection).await,
            "$disconnect" => self
                .registry
                .forget(connection)
                .await
                .map(|()| socket_answer(200, None)),
            _ => Ok(Self::message(event)),
        };
        outcome.unwrap_or_else(|error| {
            tracing::error!(%error, route, "live socket");
            socket_answer(503, Some(json!({ "code": "SERVICE_UNAVAILABLE" })))
        })
    }

    async fn connect(&self, event: &Value, connection: &str) -> Result<Value> {
        let ticket = event["queryStringParameters"]["ticket"]
            .as_str()
            .and_then(TicketSecret::parse);
        let Some(ticket) = ticket.filter(|_| !connection.is_empty()) else {
            return Ok(socket_answer(403, None));
        };
        let redeemed = self
            .registry
            .redeem(&ticket.digest(), connection, Utc::now())
            .await?;
        Ok(socket_answer(
            if redeemed.is_some() { 200 } else { 403 },
            None,
        ))
    }

    /// A page pings to keep the socket from idling out (10 minutes) and to notice a dead one.
    fn message(event: &Value) -> Value {
        let body: Value = event["body"]
            .as_str()
            .and_then(|body| serde_json::from_str(body).ok())
            .unwrap_or(Value::Null);
        if body["action"] == "ping" {
            socket_answer(200, Some(json!({ "type": "pong" })))
        } else {
            socket_answer(
                400,
                Some(json!({ "type": "error", "code": "UNKNOWN_MESSAGE" })),
            )
        }
    }
}

/// The history entry a stream record carries, if it is a new one (the event source's filter
/// lets only history inserts through; anything else is skipped, not failed).
pub fn recorded_entry(record: &Value) -> Option<HistoryEntry> {
    if record["eventName"] != "INSERT" {
        return None;
    }
    let image: serde_dynamo::Item =
        serde_json::from_value(record["dynamodb"]["NewImage"].clone()).ok()?;
    let pk = image.get("pk").and_then(|value| match value {
        serde_dynamo::AttributeValue::S(text) => Some(text.clone()),
        _ => None,
    })?;
    if !pk.starts_with(crate::history::PARTITION_PREFIX) {
        return None;
    }
    serde_dynamo::from_item(image).ok()
}

/// Fans each recorded change out to the sockets of its project.
pub struct Broadcaster<R, P, G> {
    registry: R,
    push: P,
    gate: Gate<G>,
}

impl<R: LiveRegistry, P: LivePush, G: ProjectDirectory> Broadcaster<R, P, G> {
    pub fn new(registry: R, push: P, gate: Gate<G>) -> Self {
        Self {
            registry,
            push,
            gate,
        }
    }

    /// Sends every record's notice; answers the sequence numbers of the records to deliver
    /// again (Lambda retries from the first of them). A page hears a notice at least once and
    /// acts on each entry id once.
    pub async fn handle(&self, records: &[Value]) -> Vec<String> {
        let mut failed = Vec::new();
        for record in records {
            let Some(entry) = recorded_entry(record) else {
                continue;
            };
            if let Err(error) = self.deliver(&entry).await {
                tracing::error!(%error, entry = %entry.id, "live broadcast");
                let sequence = record["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap_or_default();
                failed.push(sequence.to_owned());
                // The rest come again with this one: stop here rather than send them twice.
                break;
            }
        }
        failed
    }

    async fn deliver(&self, entry: &HistoryEntry) -> Result<()> {
        let mut connections = self.registry.listening(entry.project).await?;
        if ChangeNotice::changes_access(entry) {
            let mut kept = Vec::new();
            for connection in connections {
                if self.still_allowed(&connection.listener).await? {
                    kept.push(connection);
                } else {
                    self.push.close(&connection.id).await?;
                    self.registry.forget(&connection.id).await?;
                }
            }
            connections = kept;
        }
        let frame = ChangeNotice::of(entry).to_bytes();
        let mut gone = HashSet::new();
        for connection in &connections {
            if self.push.send(&connection.id, &frame).await? == Delivery::Gone {
                gone.insert(connection.id.clone());
            }
        }
        for id in gone {
            self.registry.forget(&id).await?;
        }
        Ok(())
    }

    /// Whether the person may still view the project, asked of the policy as on any request.
    async fn still_allowed(&self, listener: &Listener) -> Result<bool> {
        match self
            .gate
            .act_for(
                &listener.sub,
                listener.deployment_admin,
                &listener.project_id,
                Action::ViewProject,
                false,
                "live",
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::PermissionDenied { .. } | Error::ProjectNotFound { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests;
