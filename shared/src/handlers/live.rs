//! Live updates: POST /projects/{key}/live-tickets lets a person who may view the project open
//! its channel; the WebSocket API's `$connect`, `$disconnect` and `$default` routes (function
//! live-socket) redeem a ticket, forget a closed socket and answer pings; the projects table's
//! stream of history entries (function live-broadcast) becomes a notice on every socket of the
//! entry's project.

use std::collections::HashSet;

use futures::StreamExt;

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

/// Posts to one project's sockets in flight at once.
const SENDS_AT_ONCE: usize = 16;

/// Notices per frame: ~300 bytes each, well inside API Gateway's 32 KB frame (and its billing
/// unit).
const NOTICES_PER_FRAME: usize = 50;

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

    /// Sends every record's notice; answers the sequence number of the record to deliver again
    /// from (Lambda retries from it), if any failed. The records of one batch go out per
    /// project as few frames (one Query of the project's sockets, one post per socket and
    /// frame), so a burst of changes costs what one change costs. A page hears a notice at least
    /// once and acts on each entry id once.
    pub async fn handle(&self, records: &[Value]) -> Vec<String> {
        // (project, [(index of the record, entry)]) in the order projects first appear.
        let mut projects: Vec<(u32, Vec<(usize, HistoryEntry)>)> = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let Some(entry) = recorded_entry(record) else {
                continue;
            };
            match projects
                .iter_mut()
                .find(|(project, _)| *project == entry.project)
            {
                Some((_, entries)) => entries.push((index, entry)),
                None => projects.push((entry.project, vec![(index, entry)])),
            }
        }
        let mut first_failed: Option<usize> = None;
        for (project, entries) in &projects {
            if let Err(error) = self.deliver(*project, entries).await {
                tracing::error!(%error, project, "live broadcast");
                let index = entries.first().map_or(0, |(index, _)| *index);
                first_failed = Some(first_failed.map_or(index, |earlier| earlier.min(index)));
            }
        }
        first_failed
            .and_then(|index| records[index]["dynamodb"]["SequenceNumber"].as_str())
            .map(|sequence| vec![sequence.to_owned()])
            .unwrap_or_default()
    }

    async fn deliver(&self, project: u32, entries: &[(usize, HistoryEntry)]) -> Result<()> {
        let mut connections = self.registry.listening(project).await?;
        if entries
            .iter()
            .any(|(_, entry)| ChangeNotice::changes_access(entry))
        {
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
        let notices: Vec<ChangeNotice> = entries
            .iter()
            .map(|(_, entry)| ChangeNotice::of(entry))
            .collect();
        let mut gone = HashSet::new();
        let mut failure = None;
        for chunk in notices.chunks(NOTICES_PER_FRAME) {
            let frame = ChangeNotice::frame(chunk);
            let frame = &frame;
            // Each post is a round trip to API Gateway: a project's sockets are posted to
            // together (a few at a time), so the 50th person hears as soon as the first.
            let push = &self.push;
            let mut sends = Vec::new();
            for connection in connections.iter().filter(|c| !gone.contains(&c.id)) {
                let id = connection.id.clone();
                sends.push(async move {
                    let outcome = push.send(&id, frame).await;
                    (id, outcome)
                });
            }
            let outcomes: Vec<(String, Result<Delivery>)> = futures::stream::iter(sends)
                .buffer_unordered(SENDS_AT_ONCE)
                .collect()
                .await;
            for (id, outcome) in outcomes {
                match outcome {
                    Ok(Delivery::Gone) => {
                        gone.insert(id);
                    }
                    Ok(Delivery::Sent) => {}
                    Err(error) => failure = Some(error),
                }
            }
        }
        for id in &gone {
            self.registry.forget(id).await?;
        }
        // Some sockets missed it: the records come again, and pages that had them drop repeats.
        failure.map_or(Ok(()), Err)
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
