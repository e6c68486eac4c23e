//! In-memory live channel for unit tests: the registry of tickets and sockets, and sockets that
//! keep what was sent to them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use crate::error::{Error, Result};
use crate::live::{CONNECTION_SECONDS, LiveConnection, LiveTicket};
use crate::ports::{Delivery, LivePush, LiveRegistry};

#[derive(Default)]
struct State {
    tickets: HashMap<String, LiveTicket>,
    connections: BTreeMap<String, LiveConnection>,
    /// Frames each socket received, in order.
    received: HashMap<String, Vec<Vec<u8>>>,
    /// Sockets that closed without a `$disconnect` (the push finds them gone).
    dropped: HashSet<String>,
    closed: Vec<String>,
    /// Makes every call fail, as a table or API that is down would.
    failing: bool,
}

#[derive(Clone, Default)]
pub struct MemoryLive {
    state: Arc<Mutex<State>>,
}

impl MemoryLive {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn check(&self) -> Result<()> {
        if self.state().failing {
            return Err(Error::DependencyUnavailable {
                dependency: "live channel",
                message: "down".into(),
            });
        }
        Ok(())
    }

    pub fn fail(&self, failing: bool) {
        self.state().failing = failing;
    }

    /// The frames a socket received, as text.
    pub fn received(&self, connection_id: &str) -> Vec<String> {
        self.state()
            .received
            .get(connection_id)
            .map(|frames| {
                frames
                    .iter()
                    .map(|frame| String::from_utf8_lossy(frame).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The socket went away without saying so.
    pub fn drop_socket(&self, connection_id: &str) {
        self.state().dropped.insert(connection_id.to_owned());
    }

    pub fn closed(&self) -> Vec<String> {
        self.state().closed.clone()
    }

    pub fn connection_ids(&self) -> Vec<String> {
        self.state().connections.keys().cloned().collect()
    }

    pub fn ticket_count(&self) -> usize {
        self.state().tickets.len()
    }
}

impl LiveRegistry for MemoryLive {
    async fn put_ticket(&self, ticket: &LiveTicket) -> Result<()> {
        self.check()?;
        self.state()
            .tickets
            .insert(ticket.digest.clone(), ticket.clone());
        Ok(())
    }

    async fn redeem(
        &self,
        digest: &str,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LiveConnection>> {
        self.check()?;
        let mut state = self.state();
        let Some(ticket) = state.tickets.remove(digest) else {
            return Ok(None);
        };
        if ticket.expires_at <= now {
            return Ok(None);
        }
        let connection = LiveConnection {
            id: connection_id.to_owned(),
            listener: ticket.listener,
            expires_at: now + Duration::seconds(CONNECTION_SECONDS),
        };
        state
            .connections
            .insert(connection_id.to_owned(), connection.clone());
        Ok(Some(connection))
    }

    async fn forget(&self, connection_id: &str) -> Result<()> {
        self.check()?;
        self.state().connections.remove(connection_id);
        Ok(())
    }

    async fn listening(&self, project_ordinal: u32) -> Result<Vec<LiveConnection>> {
        self.check()?;
        Ok(self
            .state()
            .connections
            .values()
            .filter(|connection| connection.listener.project_ordinal == project_ordinal)
            .cloned()
            .collect())
    }
}

impl LivePush for MemoryLive {
    async fn send(&self, connection_id: &str, frame: &[u8]) -> Result<Delivery> {
        self.check()?;
        let mut state = self.state();
        if state.dropped.contains(connection_id) {
            return Ok(Delivery::Gone);
        }
        state
            .received
            .entry(connection_id.to_owned())
            .or_default()
            .push(frame.to_vec());
        Ok(Delivery::Sent)
    }

    async fn close(&self, connection_id: &str) -> Result<()> {
        self.check()?;
        self.state().closed.push(connection_id.to_owned());
        Ok(())
    }
}
