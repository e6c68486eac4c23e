//! The worker's settings, from the environment its systemd unit (or a test) sets.

use std::path::PathBuf;
use std::time::Duration;

use aipm::config::{CodeHostConfig, Config, MissingVariable};

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub worker_id: String,
    /// Run with `sh -c` in the task's checkout; TASK.md is its brief.
    pub agent_command: String,
    pub agent_timeout: Duration,
    /// Tasks run at once.
    pub concurrency: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    /// Attempts before a task that keeps failing is marked failed.
    pub max_attempts: u32,
    pub retry_backoff: Duration,
    /// Deliveries of one message before it is given up (matches the queue's maxReceiveCount).
    pub max_receives: u32,
    pub queue_wait: Duration,
    pub reconcile_every: Duration,
    /// A queued task untouched this long is re-sent to the queue.
    pub requeue_after: Duration,
    pub shutdown_grace: Duration,
    /// How long running tasks may go on when the instance is drained (SIGUSR1 from aipm-drain);
    /// below the drain lifecycle hook's 15 minutes, which aipm-drain keeps extending.
    pub drain_grace: Duration,
    pub work_dir: PathBuf,
    /// Where branches are cloned from and pushed to, for tasks that record no repository.
    pub git_remote: String,
    /// `AIPM_GIT_REMOTE` was given: every task uses `git_remote` (tests pointing GitHub mode
    /// at a repository on disk).
    pub git_remote_fixed: bool,
    /// Names of environment variables passed through to the agent (e.g. its API key).
    pub agent_env: Vec<String>,
    /// The unprivileged account the agent runs as (`AIPM_AGENT_USER`); none runs it as the
    /// worker itself (local runs and tests).
    pub agent_user: Option<crate::isolation::AgentUser>,
    pub tables: Config,
    pub code_host: CodeHostConfig,
}

fn seconds(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
) -> Result<Duration, String> {
    match lookup(name) {
        None => Ok(Duration::from_secs_f64(default)),
        Some(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|value| *value > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{name} must be a positive number of seconds, not {text:?}")),
    }
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u32,
) -> Result<u32, String> {
    match lookup(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|value| *value > 0)
            .ok_or_else(|| format!("{name} must be a positive integer, not {text:?}")),
    }
}

/// The names in `AIPM_AGENT_ENV`. The worker's own credentials never go through: AWS settings
/// would hand the agent the instance role's keys, and AIPM's GitHub settings its token.
fn agent_env(names: Option<String>) -> Result<Vec<String>, String> {
    let names: Vec<String> = names
        .unwrap_or_default()
        .split(',')
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect();
    match names
        .iter()
        .find(|name| name.starts_with("AWS_") || name.starts_with("AIPM_GITHUB_"))
    {
        Some(name) => Err(format!(
            "AIPM_AGENT_ENV may not pass {name} to the agent: the worker's AWS and GitHub credentials stay with the worker"
        )),
        None => Ok(names),
    }
}

/// The agent's command and the variables passed through to it: from `AIPM_AGENT_PRESET` (a
/// known CLI) or `AIPM_AGENT_COMMAND` (any command), plus `AIPM_AGENT_ENV`.
struct AgentSettings {
    command: String,
    passthrough: Vec<String>,
}

fn agent_settings(lookup: &impl Fn(&str) -> Option<String>) -> Result<AgentSettings, String> {
    let mut passthrough = agent_env(lookup("AIPM_AGENT_ENV"))?;
    let command = match (lookup("AIPM_AGENT_PRESET"), lookup("AIPM_AGENT_COMMAND")) {
        (Some(_), Some(_)) => {
            return Err(
                "set AIPM_AGENT_PRESET or AIPM_AGENT_COMMAND, not both: the preset is a command"
                    .into(),
            );
        }
        (None, None) => {
            return Err("AIPM_AGENT_PRESET (claude-code, codex, aider) or AIPM_AGENT_COMMAND must say how to run the coding agent".into());
        }
        (None, Some(command)) => command,
        (Some(name), None) => {
            let preset = crate::presets::named(&name)?;
            if let Some(missing) = preset.required.iter().find(|name| lookup(name).is_none()) {
                return Err(format!(
                    "AIPM_AGENT_PRESET={} needs {missing} in the worker's environment",
                    preset.name
                ));
            }
            for name in preset.required.iter().chain(preset.optional) {
                if !passthrough.iter().any(|known| known == name) {
                    passthrough.push((*name).to_owned());
                }
            }
            preset.command.to_owned()
        }
    };
    Ok(AgentSettings {
        command,
        passthrough,
    })
}

impl WorkerConfig {
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        })
    }

    /// Where a task's branch is cloned from: its project's repository on GitHub, or the one
    /// remote of the local host (which holds every project's branches) or of `AIPM_GIT_REMOTE`.
    pub fn remote_for(&self, task: &aipm::model::CodeTask) -> String {
        match (&task.repository, &self.code_host) {
            (Some(link), CodeHostConfig::GitHub { .. }) if !self.git_remote_fixed => {
                format!("https://github.com/{}/{}.git", link.owner, link.name)
            }
            _ => self.git_remote.clone(),
        }
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let missing = |error: MissingVariable| error.to_string();
        let tables = Config::from_lookup(&lookup).map_err(missing)?;
        let code_host = CodeHostConfig::from_lookup(&lookup).map_err(missing)?;
        let git_remote_fixed = lookup("AIPM_GIT_REMOTE").is_some();
        let git_remote = match (lookup("AIPM_GIT_REMOTE"), &code_host) {
            (Some(remote), _) => remote,
            (None, CodeHostConfig::LocalGit { repository, .. }) => repository.clone(),
            (None, CodeHostConfig::GitHub { repository, .. }) => {
                format!("https://github.com/{repository}.git")
            }
        };
        let agent = agent_settings(&lookup)?;
        let worker_id = lookup("AIPM_WORKER_ID").unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "worker".into());
            format!("{}-{}", host.trim(), std::process::id())
        });
        Ok(Self {
            worker_id,
            agent_command: agent.command,
            agent_timeout: seconds(&lookup, "AIPM_AGENT_TIMEOUT_SECONDS", 1800.0)?,
            concurrency: number(&lookup, "AIPM_WORKER_CONCURRENCY", 2)? as usize,
            lease: seconds(&lookup, "AIPM_LEASE_SECONDS", 120.0)?,
            heartbeat: seconds(&lookup, "AIPM_HEARTBEAT_SECONDS", 20.0)?,
            max_attempts: number(&lookup, "AIPM_MAX_ATTEMPTS", 3)?,
            retry_backoff: seconds(&lookup, "AIPM_RETRY_BACKOFF_SECONDS", 30.0)?,
            max_receives: number(&lookup, "AIPM_MAX_RECEIVES", 5)?,
            queue_wait: seconds(&lookup, "AIPM_QUEUE_WAIT_SECONDS", 20.0)?,
            reconcile_every: seconds(&lookup, "AIPM_RECONCILE_SECONDS", 60.0)?,
            requeue_after: seconds(&lookup, "AIPM_REQUEUE_AFTER_SECONDS", 300.0)?,
            shutdown_grace: seconds(&lookup, "AIPM_SHUTDOWN_GRACE_SECONDS", 60.0)?,
            drain_grace: seconds(&lookup, "AIPM_DRAIN_GRACE_SECONDS", 3_000.0)?,
            work_dir: lookup("AIPM_WORK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("aipm-worker")),
            git_remote,
            git_remote_fixed,
            agent_env: agent.passthrough,
            agent_user: lookup("AIPM_AGENT_USER")
                .map(|name| crate::isolation::AgentUser::lookup(name.trim()))
                .transpose()?,
            tables,
            code_host,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, &'static str> {
        [
            ("AIPM_STAGE", "dev"),
            ("AIPM_STORIES_TABLE", "s"),
            ("AIPM_ACCEPTANCE_TESTS_TABLE", "a"),
            ("AIPM_CODE_TASKS_TABLE", "c"),
            ("AIPM_CODE_TASKS_QUEUE_URL", "q"),
            ("AIPM_LOCAL_GIT_REPOSITORY", "/srv/repo.git"),
            ("AIPM_AGENT_COMMAND", "agent --brief TASK.md"),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn defaults_and_the_local_remote() {
        let env = base();
        let config =
            WorkerConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap();
        assert_eq!(config.git_remote, "/srv/repo.git");
        assert_eq!(config.max_attempts, 3);
        assert_eq!(config.lease, Duration::from_secs(120));
    }

    #[test]
    fn each_task_is_cloned_from_the_repository_its_project_links() {
        let mut task = aipm::model::CodeTask::queued("t".into(), 1, "b".into(), chrono::Utc::now());
        let shop = aipm::project::RepositoryLink::new("acme", "shop", "main");
        let local =
            WorkerConfig::from_lookup(|name| base().get(name).map(|v| v.to_string())).unwrap();
        let mut env = base();
        env.insert("AIPM_CODE_HOST", "github");
        env.insert("AIPM_GITHUB_REPOSITORY", "acme/app");
        env.insert("AIPM_GITHUB_TOKEN", "t");
        let github =
            WorkerConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap();
        env.insert("AIPM_GIT_REMOTE", "/srv/mirror.git");
        let fixed = WorkerConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap();
        assert_eq!(github.remote_for(&task), "https://github.com/acme/app.git");
        task.repository = Some(shop);
        assert_eq!(github.remote_for(&task), "https://github.com/acme/shop.git");
        assert_eq!(
            local.remote_for(&task),
            "/srv/repo.git",
            "one local repository"
        );
        assert_eq!(fixed.remote_for(&task), "/srv/mirror.git");
    }

    #[test]
    fn bad_or_missing_settings_are_named() {
        let mut env = base();
        env.insert("AIPM_LEASE_SECONDS", "soon");
        let error =
            WorkerConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap_err();
        assert!(error.contains("AIPM_LEASE_SECONDS"), "{error}");
        let mut env = base();
        env.remove("AIPM_AGENT_COMMAND");
        let error =
            WorkerConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap_err();
        assert!(error.contains("AIPM_AGENT_COMMAND"), "{error}");
    }

    #[test]
    fn a_preset_is_its_command_and_needs_its_key() {
        let mut env = base();
        env.remove("AIPM_AGENT_COMMAND");
        env.insert("AIPM_AGENT_PRESET", "claude-code");
        let error =
            WorkerConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap_err();
        assert!(error.contains("needs ANTHROPIC_API_KEY"), "{error}");
        env.insert("ANTHROPIC_API_KEY", "sk-test");
        env.insert("AIPM_AGENT_ENV", "GIT_AUTHOR_NAME");
        let config =
            WorkerConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap();
        assert_eq!(config.agent_command, crate::presets::CLAUDE_CODE.command);
        assert_eq!(
            config.agent_env,
            [
                "GIT_AUTHOR_NAME",
                "ANTHROPIC_API_KEY",
                "AIPM_AGENT_MODEL",
                "AIPM_AGENT_MAX_TURNS",
                "AIPM_AGENT_MAX_USD"
            ]
        );
        env.insert("AIPM_AGENT_COMMAND", "my-agent");
        let both =
            WorkerConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap_err();
        assert!(both.contains("not both"), "{both}");
    }

    #[test]
    fn the_workers_credentials_cannot_be_passed_to_the_agent() {
        for name in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_PROFILE",
            "AIPM_GITHUB_TOKEN_SECRET_ARN",
        ] {
            let mut env = base();
            let list = format!("ANTHROPIC_API_KEY, {name}");
            env.insert("AIPM_AGENT_ENV", Box::leak(list.into_boxed_str()));
            let error =
                WorkerConfig::from_lookup(|key| env.get(key).map(|v| v.to_string())).unwrap_err();
            assert!(error.contains(name), "{error}");
        }
        let mut env = base();
        env.insert("AIPM_AGENT_ENV", "ANTHROPIC_API_KEY,OPENAI_API_KEY");
        env.insert("AIPM_AGENT_USER", "nobody");
        let config = WorkerConfig::from_lookup(|key| env.get(key).map(|v| v.to_string())).unwrap();
        assert_eq!(config.agent_env, ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]);
        assert_eq!(config.agent_user.unwrap().name, "nobody");
    }
}
