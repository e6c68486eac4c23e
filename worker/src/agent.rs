//! Runs the coding agent: its own process group, a controlled environment, output to a log,
//! and a stop that reaches every process the agent started.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::isolation::AgentUser;

/// Characters of the agent's output kept on the task and in the PR comment.
pub const LOG_TAIL_CHARS: usize = 4_000;
/// Time between SIGTERM and SIGKILL when stopping an agent.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

pub struct AgentRun {
    child: Child,
    group: Option<Pid>,
}

/// What the agent sees: a minimal environment plus the variables named to pass through, as
/// `user` when one is set (its home, its name, no capabilities).
pub fn spawn(
    command: &str,
    workspace: &Path,
    log: &Path,
    task_env: &[(&str, String)],
    passthrough: &[String],
    user: Option<&AgentUser>,
) -> std::io::Result<AgentRun> {
    let log_file = std::fs::File::create(log)?;
    let log_err = log_file.try_clone()?;
    let mut process = Command::new("sh");
    process
        .arg("-c")
        .arg(command)
        .current_dir(workspace)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .process_group(0)
        .kill_on_drop(true);
    for name in ["PATH", "HOME", "LANG", "TMPDIR"]
        .iter()
        .map(|n| n.to_string())
        .chain(passthrough.iter().cloned())
    {
        if let Ok(value) = std::env::var(&name) {
            process.env(&name, value);
        }
    }
    for (name, value) in task_env {
        process.env(name, value);
    }
    if let Some(user) = user {
        process
            .env("HOME", &user.home)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name);
        let (uid, gid) = (user.uid, user.gid);
        // SAFETY: become_user makes raw system calls only, as code between fork and exec must.
        unsafe {
            process.pre_exec(move || crate::isolation::become_user(uid, gid));
        }
    }
    let child = process.spawn()?;
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    Ok(AgentRun { child, group })
}

impl AgentRun {
    pub async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.child.wait().await
    }

    /// Stops the agent and everything it started: SIGTERM to the group, SIGKILL after a grace.
    pub async fn stop(&mut self) {
        if let Some(group) = self.group {
            let _ = killpg(group, Signal::SIGTERM);
            if tokio::time::timeout(STOP_GRACE, self.child.wait())
                .await
                .is_err()
            {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = self.child.wait().await;
            }
            // Children that ignored SIGTERM while the leader exited still get the SIGKILL.
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

/// The last [`LOG_TAIL_CHARS`] characters of the agent's log.
pub fn log_tail(log: &Path) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(&text);
    let count = text.chars().count();
    let tail: String = text
        .chars()
        .skip(count.saturating_sub(LOG_TAIL_CHARS))
        .collect();
    (!tail.trim().is_empty()).then_some(tail)
}
