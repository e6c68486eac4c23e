//! Settings read once at cold start from the environment that template.yaml (or the local stack)
//! sets; a missing variable stops the cold start with its name.

use std::fmt;

/// Names of the environment variables, as template.yaml and Cargo.toml's lambda env set them.
pub mod vars {
    pub const STAGE: &str = "AIPM_STAGE";
    pub const STORIES_TABLE: &str = "AIPM_STORIES_TABLE";
    pub const ACCEPTANCE_TESTS_TABLE: &str = "AIPM_ACCEPTANCE_TESTS_TABLE";
    pub const CODE_TASKS_TABLE: &str = "AIPM_CODE_TASKS_TABLE";
    pub const CODE_TASKS_QUEUE_URL: &str = "AIPM_CODE_TASKS_QUEUE_URL";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub stage: String,
    pub stories_table: String,
    pub acceptance_tests_table: String,
    pub code_tasks_table: String,
    pub code_tasks_queue_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVariable(pub &'static str);

impl fmt::Display for MissingVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "environment variable {} is not set (template.yaml sets it in AWS; locally \
             scripts/local-up passes it to cargo lambda watch with --env-file)",
            self.0
        )
    }
}

impl std::error::Error for MissingVariable {}

impl Config {
    pub fn from_env() -> Result<Self, MissingVariable> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingVariable> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|value| !value.trim().is_empty())
                .ok_or(MissingVariable(name))
        };
        Ok(Self {
            stage: required(vars::STAGE)?,
            stories_table: required(vars::STORIES_TABLE)?,
            acceptance_tests_table: required(vars::ACCEPTANCE_TESTS_TABLE)?,
            code_tasks_table: required(vars::CODE_TASKS_TABLE)?,
            code_tasks_queue_url: required(vars::CODE_TASKS_QUEUE_URL)?,
        })
    }
}

/// What build is answering: reported by the health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    pub version: &'static str,
    pub commit: &'static str,
}

pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    commit: env!("AIPM_GIT_COMMIT"),
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn full() -> HashMap<&'static str, String> {
        [
            (vars::STAGE, "dev"),
            (vars::STORIES_TABLE, "aipm-dev-stories"),
            (vars::ACCEPTANCE_TESTS_TABLE, "aipm-dev-acceptance-tests"),
            (vars::CODE_TASKS_TABLE, "aipm-dev-code-tasks"),
            (vars::CODE_TASKS_QUEUE_URL, "https://sqs/q"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
    }

    #[test]
    fn reads_every_setting() {
        let env = full();
        let config = Config::from_lookup(|name| env.get(name).cloned()).unwrap();
        assert_eq!(config.stage, "dev");
        assert_eq!(config.code_tasks_table, "aipm-dev-code-tasks");
    }

    #[test]
    fn a_missing_or_blank_variable_is_named() {
        let mut env = full();
        env.insert(vars::CODE_TASKS_TABLE, " ".into());
        let err = Config::from_lookup(|name| env.get(name).cloned()).unwrap_err();
        assert_eq!(err, MissingVariable(vars::CODE_TASKS_TABLE));
        assert!(err.to_string().contains("AIPM_CODE_TASKS_TABLE"));
    }
}
