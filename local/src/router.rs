//! The local router: the routes of `[workspace.metadata.lambda.watch.router]` in Cargo.toml,
//! which `cargo lambda watch` serves and the local gateway serves the same way, so that one
//! table names every route of the local stack.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// One route: method, path template (`/stories/{id}`) and the function that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub template: String,
    pub function: String,
}

#[derive(Deserialize)]
struct Manifest {
    workspace: Workspace,
}

#[derive(Deserialize)]
struct Workspace {
    metadata: Metadata,
}

#[derive(Deserialize)]
struct Metadata {
    lambda: Lambda,
}

#[derive(Deserialize)]
struct Lambda {
    watch: Watch,
}

#[derive(Deserialize)]
struct Watch {
    router: BTreeMap<String, Vec<MethodRoute>>,
}

#[derive(Deserialize)]
struct MethodRoute {
    method: String,
    function: String,
}

/// The routes of the workspace manifest at `manifest`, in a stable order.
pub fn routes_of(manifest: &Path) -> Result<Vec<Route>, String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|error| format!("cannot read {}: {error}", manifest.display()))?;
    let parsed: Manifest = toml::from_str(&text).map_err(|error| {
        format!(
            "{} has no usable [workspace.metadata.lambda.watch.router]: {error}",
            manifest.display()
        )
    })?;
    Ok(parsed
        .workspace
        .metadata
        .lambda
        .watch
        .router
        .into_iter()
        .flat_map(|(template, methods)| {
            methods.into_iter().map(move |route| Route {
                method: route.method.to_ascii_uppercase(),
                template: template.clone(),
                function: route.function,
            })
        })
        .collect())
}

/// A function fed by a queue instead of a route, and the setting that names its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConsumer {
    pub function: String,
    pub setting: String,
}

#[derive(Deserialize)]
struct ConsumerManifest {
    workspace: ConsumerWorkspace,
}

#[derive(Deserialize)]
struct ConsumerWorkspace {
    metadata: ConsumerMetadata,
}

#[derive(Deserialize)]
struct ConsumerMetadata {
    #[serde(default)]
    aipm: AipmMetadata,
}

#[derive(Deserialize, Default)]
struct AipmMetadata {
    #[serde(default, rename = "queue-consumers")]
    queue_consumers: BTreeMap<String, String>,
    #[serde(default)]
    live: Option<LiveSettings>,
}

/// The live channel of `[workspace.metadata.aipm.live]`: the function behind the WebSocket
/// routes, and the consumer of a table's stream with the key prefix its filter lets through.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct LiveSettings {
    pub socket: String,
    pub broadcaster: String,
    /// The functions' setting that names the table whose stream feeds the broadcaster.
    pub table_setting: String,
    pub key_prefix: String,
}

/// The live channel of the manifest at `manifest`, if it has one.
pub fn live_of(manifest: &Path) -> Result<Option<LiveSettings>, String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|error| format!("cannot read {}: {error}", manifest.display()))?;
    let parsed: ConsumerManifest =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", manifest.display()))?;
    Ok(parsed.workspace.metadata.aipm.live)
}

pub fn live() -> Option<LiveSettings> {
    live_of(&crate::repo_root().join("Cargo.toml")).unwrap_or_else(|error| panic!("{error}"))
}

/// The queue consumers of `[workspace.metadata.aipm.queue-consumers]` (none if absent).
pub fn queue_consumers_of(manifest: &Path) -> Result<Vec<QueueConsumer>, String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|error| format!("cannot read {}: {error}", manifest.display()))?;
    let parsed: ConsumerManifest =
        toml::from_str(&text).map_err(|error| format!("{}: {error}", manifest.display()))?;
    Ok(parsed
        .workspace
        .metadata
        .aipm
        .queue_consumers
        .into_iter()
        .map(|(function, setting)| QueueConsumer { function, setting })
        .collect())
}

pub fn queue_consumers() -> Vec<QueueConsumer> {
    queue_consumers_of(&crate::repo_root().join("Cargo.toml"))
        .unwrap_or_else(|error| panic!("{error}"))
}

/// The routes of this repository's Cargo.toml.
pub fn routes() -> Vec<Route> {
    routes_of(&crate::repo_root().join("Cargo.toml")).unwrap_or_else(|error| panic!("{error}"))
}

/// Whether `path` fits `template`: the same segments, a `{name}` segment matching any
/// non-empty one.
pub fn template_matches(template: &str, path: &str) -> bool {
    let mut template_segments = template.split('/');
    let mut path_segments = path.split('/');
    loop {
        match (template_segments.next(), path_segments.next()) {
            (None, None) => return true,
            (Some(expected), Some(actual)) => {
                let parameter = expected.starts_with('{') && expected.ends_with('}');
                if !(parameter && !actual.is_empty() || expected == actual) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// The route serving `method path`, a literal segment winning over a parameter as in API
/// Gateway (`/stories/new` before `/stories/{id}`).
pub fn find<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|route| route.method == method && template_matches(&route.template, path))
        .max_by_key(|route| {
            route
                .template
                .split('/')
                .filter(|s| !s.starts_with('{'))
                .count()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_parameters_need_a_value() {
        let routes = vec![
            Route {
                method: "GET".into(),
                template: "/stories/{id}".into(),
                function: "get-story".into(),
            },
            Route {
                method: "GET".into(),
                template: "/stories/drafts".into(),
                function: "drafts".into(),
            },
        ];
        assert_eq!(
            find(&routes, "GET", "/stories/7").unwrap().function,
            "get-story"
        );
        assert_eq!(
            find(&routes, "GET", "/stories/drafts").unwrap().function,
            "drafts"
        );
        assert!(find(&routes, "GET", "/stories/").is_none());
        assert!(find(&routes, "POST", "/stories/7").is_none());
    }

    #[test]
    fn the_workspace_router_names_a_function_for_every_route() {
        let routes = routes();
        assert!(
            routes
                .iter()
                .any(|r| r.method == "GET" && r.template == "/health")
        );
        assert!(routes.iter().all(|r| {
            crate::repo_root()
                .join("functions")
                .join(&r.function)
                .is_dir()
        }));
    }
}
