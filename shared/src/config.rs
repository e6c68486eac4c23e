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
    pub const TRIGGERS_TABLE: &str = "AIPM_TRIGGERS_TABLE";
    pub const EVENT_BUS: &str = "AIPM_EVENT_BUS";
    pub const AI_TABLE: &str = "AIPM_AI_TABLE";
    pub const AI_REVIEW_QUEUE_URL: &str = "AIPM_AI_REVIEW_QUEUE_URL";
    pub const AI_PROVIDER: &str = "AIPM_AI_PROVIDER";
    pub const AI_MODEL: &str = "AIPM_AI_MODEL";
    pub const AI_BASE_URL: &str = "AIPM_AI_BASE_URL";
    pub const AI_API_KEY: &str = "AIPM_AI_API_KEY";
    pub const AI_API_KEY_SECRET_ARN: &str = "AIPM_AI_API_KEY_SECRET_ARN";
    pub const GITHUB_WEBHOOK_SECRET: &str = "AIPM_GITHUB_WEBHOOK_SECRET";
    pub const GITHUB_WEBHOOK_SECRET_ARN: &str = "AIPM_GITHUB_WEBHOOK_SECRET_ARN";
    pub const REVIEW_MENTIONS: &str = "AIPM_REVIEW_MENTIONS";
    pub const REVIEW_ON_CHANGES_REQUESTED: &str = "AIPM_REVIEW_ON_CHANGES_REQUESTED";
    pub const CODE_HOST: &str = "AIPM_CODE_HOST";
    pub const LOCAL_GIT_REPOSITORY: &str = "AIPM_LOCAL_GIT_REPOSITORY";
    pub const DEFAULT_BRANCH: &str = "AIPM_DEFAULT_BRANCH";
    pub const GITHUB_REPOSITORY: &str = "AIPM_GITHUB_REPOSITORY";
    pub const GITHUB_API_URL: &str = "AIPM_GITHUB_API_URL";
    pub const GITHUB_TOKEN: &str = "AIPM_GITHUB_TOKEN";
    pub const GITHUB_TOKEN_SECRET_ARN: &str = "AIPM_GITHUB_TOKEN_SECRET_ARN";
    /// The GitHub App's id; when set, the App mints a token per repository instead of the
    /// personal token being used for all.
    pub const GITHUB_APP_ID: &str = "AIPM_GITHUB_APP_ID";
    /// The App's private key (PEM): in Secrets Manager in AWS, in the environment locally.
    pub const GITHUB_APP_KEY_SECRET_ARN: &str = "AIPM_GITHUB_APP_KEY_SECRET_ARN";
    pub const GITHUB_APP_PRIVATE_KEY: &str = "AIPM_GITHUB_APP_PRIVATE_KEY";
    /// `jwt` or `single-person-unsafe`, as template.yaml's AuthMode; `local-people` on the
    /// local stack only.
    pub const AUTH_MODE: &str = "AIPM_AUTH_MODE";
    /// The Cognito group whose members are admins of every project (JWT mode).
    pub const ADMIN_GROUP: &str = "AIPM_ADMIN_GROUP";
    /// The file listing the local stack's people (scripts/local-people.json); local-people
    /// mode only.
    pub const LOCAL_PEOPLE_FILE: &str = "AIPM_LOCAL_PEOPLE_FILE";
    /// Projects, their key reservations, memberships and the audit log.
    pub const PROJECTS_TABLE: &str = "AIPM_PROJECTS_TABLE";
    /// The audience GitHub Actions OIDC tokens for test uploads must name; unset, only upload
    /// tokens are taken.
    pub const CI_OIDC_AUDIENCE: &str = "AIPM_CI_OIDC_AUDIENCE";
    /// The Actions tokens' issuer (GitHub's, unless a test serves its own).
    pub const CI_OIDC_ISSUER: &str = "AIPM_CI_OIDC_ISSUER";
    /// Cognito managed login for the UI: `https://DOMAIN.auth.REGION.amazoncognito.com`.
    pub const COGNITO_DOMAIN: &str = "AIPM_COGNITO_DOMAIN";
    pub const COGNITO_CLIENT_ID: &str = "AIPM_COGNITO_CLIENT_ID";
    /// The bucket of reference documents' bytes.
    pub const DOCUMENTS_BUCKET: &str = "AIPM_DOCUMENTS_BUCKET";
    /// Where the browser sends those bytes (the bucket's origin), allowed by the page's
    /// content security policy.
    pub const DOCUMENTS_ORIGIN: &str = "AIPM_DOCUMENTS_ORIGIN";
    /// The live channel's table (tickets and open sockets).
    pub const LIVE_TABLE: &str = "AIPM_LIVE_TABLE";
    /// Where a browser opens the live channel (`wss://…/{stage}`); unset locally, where the
    /// page's own origin serves it at `/_live`.
    pub const LIVE_SOCKET_URL: &str = "AIPM_LIVE_SOCKET_URL";
    /// The WebSocket stage's management endpoint (`https://…/{stage}`) the broadcaster posts to.
    pub const LIVE_ENDPOINT: &str = "AIPM_LIVE_ENDPOINT";
}

/// Where code lives, as the operations that touch it (generate-code, the worker) configure it.
#[derive(Clone, PartialEq, Eq)]
pub enum CodeHostConfig {
    /// A bare repository on disk: the offline default for local runs.
    LocalGit {
        repository: String,
        default_branch: String,
    },
    /// GitHub (or GitHub Enterprise at `api_url`), `owner/name`.
    GitHub {
        repository: String,
        api_url: String,
        default_branch: String,
        credentials: GitHubCredentials,
    },
}

/// How a deployment authenticates to GitHub; Debug names the kind, never the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum GitHubCredentials {
    /// One personal access token for every repository (local and simple setups).
    Token(GitHubToken),
    /// The GitHub App: its id and private key, which mint a token per repository.
    App {
        app_id: u64,
        private_key: GitHubToken,
    },
}

/// How the GitHub token is found; the token itself never appears in Debug output.
#[derive(Clone, PartialEq, Eq)]
pub enum GitHubToken {
    /// From AWS Secrets Manager (in AWS).
    Secret { arn: String },
    /// From the environment (local runs and tests).
    Value(String),
}

/// The App's id and key when `AIPM_GITHUB_APP_ID` is set (`value` reads a non-blank setting).
fn app_settings(
    value: impl Fn(&'static str) -> Option<String>,
) -> Result<Option<(u64, GitHubToken)>, MissingVariable> {
    let Some(app_id) = value(vars::GITHUB_APP_ID) else {
        return Ok(None);
    };
    // Not a number is as good as not set: the App cannot be named.
    let app_id = app_id
        .trim()
        .parse()
        .map_err(|_| MissingVariable(vars::GITHUB_APP_ID))?;
    let key = match value(vars::GITHUB_APP_KEY_SECRET_ARN) {
        Some(arn) => GitHubToken::Secret { arn },
        None => GitHubToken::Value(
            value(vars::GITHUB_APP_PRIVATE_KEY)
                .ok_or(MissingVariable(vars::GITHUB_APP_PRIVATE_KEY))?,
        ),
    };
    Ok(Some((app_id, key)))
}

fn api_url(value: impl Fn(&'static str) -> Option<String>) -> String {
    value(vars::GITHUB_API_URL).unwrap_or_else(|| "https://api.github.com".to_owned())
}

/// The GitHub App alone (id, key, API URL), for functions that only ask whether it reaches a
/// repository (create- and update-project); None without `AIPM_GITHUB_APP_ID`.
pub fn github_app_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<(u64, GitHubToken, String)>, MissingVariable> {
    let value = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
    Ok(app_settings(value)?.map(|(app_id, key)| (app_id, key, api_url(value))))
}

impl std::fmt::Debug for GitHubCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitHubCredentials::Token(_) => f.write_str("PersonalToken"),
            GitHubCredentials::App { app_id, .. } => write!(f, "App({app_id})"),
        }
    }
}

impl std::fmt::Debug for CodeHostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodeHostConfig::LocalGit { repository, .. } => write!(f, "LocalGit({repository})"),
            CodeHostConfig::GitHub {
                repository,
                api_url,
                ..
            } => write!(f, "GitHub({repository} at {api_url})"),
        }
    }
}

impl CodeHostConfig {
    pub fn from_env() -> Result<Self, MissingVariable> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingVariable> {
        let value = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
        let required = |name: &'static str| value(name).ok_or(MissingVariable(name));
        let default_branch = value(vars::DEFAULT_BRANCH).unwrap_or_else(|| "main".to_owned());
        match value(vars::CODE_HOST).as_deref() {
            Some("github") => Ok(CodeHostConfig::GitHub {
                repository: required(vars::GITHUB_REPOSITORY)?,
                api_url: api_url(value),
                default_branch,
                credentials: match app_settings(value)? {
                    Some((app_id, private_key)) => GitHubCredentials::App {
                        app_id,
                        private_key,
                    },
                    None => GitHubCredentials::Token(match value(vars::GITHUB_TOKEN_SECRET_ARN) {
                        Some(arn) => GitHubToken::Secret { arn },
                        None => GitHubToken::Value(required(vars::GITHUB_TOKEN)?),
                    }),
                },
            }),
            _ => Ok(CodeHostConfig::LocalGit {
                repository: required(vars::LOCAL_GIT_REPOSITORY)?,
                default_branch,
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub stage: String,
    pub stories_table: String,
    pub acceptance_tests_table: String,
    pub code_tasks_table: String,
    pub code_tasks_queue_url: String,
    /// Once-keys of revision and retry triggers (webhook deliveries, reviews, retries); only
    /// the functions that start them need it.
    pub triggers_table: Option<String>,
    /// The EventBridge bus AIPM's events go to.
    pub event_bus: String,
    /// AI answers by content hash and hourly allowances; only the AI functions need it.
    pub ai_table: Option<String>,
    /// Where AI review requests wait for the reviewer.
    pub ai_review_queue_url: Option<String>,
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
        let optional = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
        let required = |name: &'static str| optional(name).ok_or(MissingVariable(name));
        Ok(Self {
            stage: required(vars::STAGE)?,
            stories_table: required(vars::STORIES_TABLE)?,
            acceptance_tests_table: required(vars::ACCEPTANCE_TESTS_TABLE)?,
            code_tasks_table: required(vars::CODE_TASKS_TABLE)?,
            code_tasks_queue_url: required(vars::CODE_TASKS_QUEUE_URL)?,
            triggers_table: optional(vars::TRIGGERS_TABLE),
            ai_table: optional(vars::AI_TABLE),
            ai_review_queue_url: optional(vars::AI_REVIEW_QUEUE_URL),
            event_bus: lookup(vars::EVENT_BUS)
                .filter(|value| !value.trim().is_empty())
                .unwrap_or_else(|| "default".into()),
        })
    }
}

/// Which language model a stage uses. The model id is configuration (template.yaml's `AiModel`),
/// never a constant in code: models are retired on the provider's schedule.
#[derive(Clone, PartialEq, Eq)]
pub enum AiProvider {
    Off,
    Bedrock {
        model: String,
    },
    OpenAi {
        base_url: String,
        model: String,
        api_key: GitHubToken,
    },
}

#[derive(Clone, PartialEq, Eq)]
pub struct AiConfig {
    pub provider: AiProvider,
}

impl AiConfig {
    pub fn from_env() -> Result<Self, MissingVariable> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingVariable> {
        let value = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
        let required = |name: &'static str| value(name).ok_or(MissingVariable(name));
        let provider = match value(vars::AI_PROVIDER).as_deref() {
            Some("bedrock") => AiProvider::Bedrock {
                model: required(vars::AI_MODEL)?,
            },
            Some("openai") => AiProvider::OpenAi {
                base_url: required(vars::AI_BASE_URL)?,
                model: required(vars::AI_MODEL)?,
                api_key: match value(vars::AI_API_KEY_SECRET_ARN) {
                    Some(arn) => GitHubToken::Secret { arn },
                    None => GitHubToken::Value(required(vars::AI_API_KEY)?),
                },
            },
            _ => AiProvider::Off,
        };
        Ok(Self { provider })
    }
}

impl fmt::Debug for AiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.provider {
            AiProvider::Off => write!(f, "AiConfig(off)"),
            AiProvider::Bedrock { model } => write!(f, "AiConfig(bedrock {model})"),
            AiProvider::OpenAi {
                base_url, model, ..
            } => write!(f, "AiConfig(openai {model} at {base_url})"),
        }
    }
}

/// The GitHub webhook's settings: its secret, and what starts a revision.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub secret: GitHubToken,
    pub rules: crate::handlers::github_webhook::TriggerRules,
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, MissingVariable> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, MissingVariable> {
        let value = |name: &'static str| lookup(name).filter(|value| !value.trim().is_empty());
        let required = |name: &'static str| value(name).ok_or(MissingVariable(name));
        let mentions = value(vars::REVIEW_MENTIONS)
            .unwrap_or_else(|| "@aipm,/aipm".into())
            .split(',')
            .map(|mention| mention.trim().to_owned())
            .filter(|mention| !mention.is_empty())
            .collect();
        Ok(Self {
            secret: match value(vars::GITHUB_WEBHOOK_SECRET_ARN) {
                Some(arn) => GitHubToken::Secret { arn },
                None => GitHubToken::Value(required(vars::GITHUB_WEBHOOK_SECRET)?),
            },
            rules: crate::handlers::github_webhook::TriggerRules {
                repository: required(vars::GITHUB_REPOSITORY)?,
                mentions,
                on_changes_requested: value(vars::REVIEW_ON_CHANGES_REQUESTED)
                    .is_none_or(|flag| flag != "false"),
            },
        })
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookConfig({:?})", self.rules)
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
            (vars::TRIGGERS_TABLE, "aipm-dev-triggers"),
            (vars::AI_TABLE, "aipm-dev-ai"),
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
    fn webhook_settings_default_to_both_mentions_and_changes_requested() {
        let env: HashMap<&str, &str> = [
            (vars::GITHUB_REPOSITORY, "acme/app"),
            (vars::GITHUB_WEBHOOK_SECRET, "hook-secret"),
        ]
        .into_iter()
        .collect();
        let config =
            WebhookConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap();
        assert_eq!(config.rules.mentions, ["@aipm", "/aipm"]);
        assert!(config.rules.on_changes_requested);
        assert!(!format!("{config:?}").contains("hook-secret"));
        let missing = WebhookConfig::from_lookup(|name| {
            (name == vars::GITHUB_REPOSITORY).then(|| "acme/app".to_owned())
        });
        assert_eq!(missing, Err(MissingVariable(vars::GITHUB_WEBHOOK_SECRET)));
    }

    #[test]
    fn code_host_settings_and_a_token_that_never_prints() {
        let env: HashMap<&str, &str> = [
            (vars::CODE_HOST, "github"),
            (vars::GITHUB_REPOSITORY, "acme/app"),
            (vars::GITHUB_TOKEN, "ghp_secret"),
        ]
        .into_iter()
        .collect();
        let config =
            CodeHostConfig::from_lookup(|name| env.get(name).map(|v| v.to_string())).unwrap();
        assert!(!format!("{config:?}").contains("ghp_secret"));
        assert!(
            matches!(config, CodeHostConfig::GitHub { ref api_url, .. } if api_url == "https://api.github.com")
        );
        let local = CodeHostConfig::from_lookup(|_| None).unwrap_err();
        assert_eq!(local, MissingVariable(vars::LOCAL_GIT_REPOSITORY));
    }

    #[test]
    fn an_app_id_chooses_the_app_and_its_key_never_prints() {
        let mut env: HashMap<&str, &str> = [
            (vars::CODE_HOST, "github"),
            (vars::GITHUB_REPOSITORY, "acme/app"),
            (vars::GITHUB_TOKEN, "ghp_secret"),
            (vars::GITHUB_APP_ID, "424242"),
            (
                vars::GITHUB_APP_PRIVATE_KEY,
                "-----BEGIN RSA PRIVATE KEY-----",
            ),
        ]
        .into_iter()
        .collect();
        let read = |env: &HashMap<&str, &str>| {
            CodeHostConfig::from_lookup(|name| env.get(name).map(|v| v.to_string()))
        };
        let config = read(&env).unwrap();
        let CodeHostConfig::GitHub { credentials, .. } = &config else {
            panic!("GitHub expected: {config:?}");
        };
        assert!(matches!(
            credentials,
            GitHubCredentials::App {
                app_id: 424_242,
                ..
            }
        ));
        assert!(!format!("{credentials:?}").contains("PRIVATE"));
        env.insert(
            vars::GITHUB_APP_KEY_SECRET_ARN,
            "arn:aws:secretsmanager:key",
        );
        let CodeHostConfig::GitHub { credentials, .. } = read(&env).unwrap() else {
            panic!("GitHub expected");
        };
        assert_eq!(
            credentials,
            GitHubCredentials::App {
                app_id: 424_242,
                private_key: GitHubToken::Secret {
                    arn: "arn:aws:secretsmanager:key".into()
                }
            }
        );
        env.insert(vars::GITHUB_APP_ID, "my-app");
        assert_eq!(read(&env), Err(MissingVariable(vars::GITHUB_APP_ID)));
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
