//! A client of the live channel as a page uses it: a ticket from
//! `POST /projects/{key}/live-tickets` as one of the local stack's people, then the socket at
//! the ticket's URL (or the stack's `/_live`); every notice it receives (a frame may carry
//! several) is kept with the moment it arrived.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Asks for a ticket as `person`; the status and the answer.
pub async fn ticket(base: &str, person: &str, key: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/projects/{key}/live-tickets"))
        .header(aipm::authz::identity::LOCAL_PERSON_HEADER, person)
        .send()
        .await
        .expect("the API answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The sockets the local gateway at `base` holds open (`GET /_aipm/live`).
pub async fn open_sockets(base: &str) -> Vec<String> {
    let listed: Value = reqwest::get(format!("{base}/_aipm/live"))
        .await
        .expect("the local gateway answers")
        .json()
        .await
        .expect("a list of sockets");
    listed["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect()
}

/// Where a socket opens with `ticket` on the stack at `base`.
pub fn socket_url(base: &str, answer: &Value, ticket: &str) -> String {
    let root = answer["url"].as_str().map_or_else(
        || format!("{}/_live", base.replacen("http", "ws", 1)),
        str::to_owned,
    );
    format!("{root}?ticket={ticket}")
}

/// One open socket.
pub struct LiveClient {
    outgoing: mpsc::UnboundedSender<Message>,
    frames: mpsc::UnboundedReceiver<(Instant, Value)>,
    /// Set when the socket closed (by the server or a failure).
    closed: tokio::sync::watch::Receiver<bool>,
}

impl LiveClient {
    /// Opens the channel of project `key` as `person`; the HTTP status of a refused socket (or
    /// of a refused ticket) otherwise.
    pub async fn open(base: &str, person: &str, key: &str) -> Result<Self, u16> {
        let (status, answer) = ticket(base, person, key).await;
        if status != 201 {
            return Err(status);
        }
        let ticket = answer["ticket"].as_str().expect("a ticket").to_owned();
        Self::connect(&socket_url(base, &answer, &ticket)).await
    }

    /// Opens a socket at `url`; the HTTP status when it is refused.
    pub async fn connect(url: &str) -> Result<Self, u16> {
        let (socket, _) =
            tokio_tungstenite::connect_async(url)
                .await
                .map_err(|error| match error {
                    tokio_tungstenite::tungstenite::Error::Http(response) => {
                        response.status().as_u16()
                    }
                    _ => 0,
                })?;
        let (mut sink, mut stream) = socket.split();
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<Message>();
        let (received, frames) = mpsc::unbounded_channel();
        let (closing, closed) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    message = to_send.recv() => match message {
                        Some(message) => {
                            if sink.send(message).await.is_err() {
                                break;
                            }
                        }
                        None => {
                            let _ = sink.close().await;
                            break;
                        }
                    },
                    frame = stream.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            let at = Instant::now();
                            let value: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                            // A frame of notices is handed over one notice at a time.
                            match value["notices"].as_array() {
                                Some(notices) if value["type"] == "changes" => {
                                    for notice in notices {
                                        let _ = received.send((at, notice.clone()));
                                    }
                                }
                                _ => {
                                    let _ = received.send((at, value));
                                }
                            }
                        }
                        Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                        Some(Ok(_)) => {}
                    },
                }
            }
            let _ = closing.send(true);
        });
        Ok(Self {
            outgoing,
            frames,
            closed,
        })
    }

    /// Sends a frame as the page does (`{"action":"ping"}`).
    pub fn send(&self, text: &str) {
        let _ = self.outgoing.send(Message::text(text));
    }

    /// The next frame within `within`, with the moment it arrived.
    pub async fn next_within(&mut self, within: Duration) -> Option<(Instant, Value)> {
        tokio::time::timeout(within, self.frames.recv())
            .await
            .ok()
            .flatten()
    }

    /// Every frame that arrives within `within`.
    pub async fn drain(&mut self, within: Duration) -> Vec<(Instant, Value)> {
        let until = Instant::now() + within;
        let mut frames = Vec::new();
        while let Some(frame) = self
            .next_within(until.saturating_duration_since(Instant::now()))
            .await
        {
            frames.push(frame);
        }
        frames
    }

    /// Whether the socket closes within `within`.
    pub async fn closes_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, self.closed.wait_for(|closed| *closed))
            .await
            .is_ok()
    }
}
