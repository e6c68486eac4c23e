//! One local execution environment of a function, as Lambda keeps them: a process of the
//! function's binary polling its own loopback Runtime API, handling one event at a time, and
//! watched so that its death is seen the moment it happens rather than as a hang.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::runtime_api::{Posted, RuntimeApi, function_command};

/// What a function needs to start: its name, binary, settings and log file.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    pub environment: Arc<Vec<(String, String)>>,
    pub log: PathBuf,
}

/// How an invocation ended.
#[derive(Debug)]
pub enum Invocation {
    /// The function posted a response or an error report.
    Answered(Posted),
    /// The process ended first. `unseen` when the event never reached a live process, so
    /// another sandbox may run it without running it twice.
    Died { unseen: bool, status: String },
    /// No answer within the time limit; the process was stopped, as Lambda stops a function
    /// at its timeout.
    TimedOut,
}

/// When and how the process ended.
type Exit = Option<(Instant, String)>;

pub struct Sandbox {
    pub function: String,
    pub pid: u32,
    pub started: Instant,
    pub last_used: Instant,
    pub invocations: u64,
    /// Dropping it stops the process; declared first so that a dropped sandbox stops its
    /// process before its Runtime API goes away.
    _stop: oneshot::Sender<()>,
    runtime: RuntimeApi,
    exited: watch::Receiver<Exit>,
}

impl Sandbox {
    /// Starts the function and waits until it asks for its first event (its cold start).
    pub async fn start(spec: &FunctionSpec, within: Duration) -> Result<Self, String> {
        let runtime = RuntimeApi::start().await;
        let mut command = tokio::process::Command::from(function_command(
            &spec.binary,
            &spec.environment,
            &runtime.address,
            Some(&spec.log),
        ));
        command.kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", spec.binary.display()))?;
        let pid = child.id().unwrap_or_default();
        let (exit_sender, exited) = watch::channel(None);
        let (stop, stop_requested) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = stop_requested => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let status = status.map_or_else(|error| error.to_string(), |status| status.to_string());
            let _ = exit_sender.send(Some((Instant::now(), status)));
        });
        let mut sandbox = Self {
            function: spec.name.clone(),
            pid,
            started: Instant::now(),
            last_used: Instant::now(),
            invocations: 0,
            runtime,
            exited,
            _stop: stop,
        };
        let mut exited = sandbox.exited.clone();
        tokio::select! {
            polled = sandbox.runtime.next_poll(within) => match polled {
                Some(_) => Ok(sandbox),
                None => Err(format!("{} did not ask for an event within {within:?}; see {}",
                    spec.name, spec.log.display())),
            },
            status = exited.wait_for(Option::is_some) => Err(format!(
                "{} exited while starting ({}); see {}",
                spec.name,
                status.ok().and_then(|exit| exit.as_ref().map(|(_, status)| status.clone()))
                    .unwrap_or_default(),
                spec.log.display()
            )),
        }
    }

    /// How the process ended, if it has.
    pub fn exit_status(&self) -> Option<String> {
        self.exited
            .borrow()
            .as_ref()
            .map(|(_, status)| status.clone())
    }

    /// Whether the process still runs. Asks the kernel as well as the exit watcher: a process
    /// killed a moment ago is a zombie before the watcher hears of it, and an event handed to
    /// it would be lost.
    pub fn is_alive(&self) -> bool {
        self.exited.borrow().is_none() && !is_zombie_or_gone(self.pid)
    }

    /// Hands the function one event and waits for its answer, its death or the time limit.
    pub async fn invoke(&mut self, event: &serde_json::Value, limit: Duration) -> Invocation {
        let delivered_before = self.runtime.delivered();
        let sent = Instant::now();
        let request_id = self.runtime.send(event);
        self.invocations += 1;
        let mut exited = self.exited.clone();
        let outcome = tokio::select! {
            posted = self.runtime.answer_to(&request_id) => match posted {
                Some(posted) => Invocation::Answered(posted),
                None => Invocation::Died { unseen: false, status: "runtime API closed".into() },
            },
            _ = exited.wait_for(Option::is_some) => {
                let (ended, status) = self.exited.borrow().clone().unwrap_or((sent, String::new()));
                let unseen = self.runtime.delivered() == delivered_before || ended <= sent;
                Invocation::Died { unseen, status }
            }
            _ = tokio::time::sleep(limit) => Invocation::TimedOut,
        };
        self.last_used = Instant::now();
        outcome
    }

    /// The process's resident memory in KiB, from `/proc` (Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid)
    }
}

/// Whether `/proc` shows the process ended (state `Z`) or not at all (Linux; elsewhere the
/// exit watcher alone decides).
fn is_zombie_or_gone(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self/stat").exists() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => true,
    }
}

/// A process's resident memory in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}
