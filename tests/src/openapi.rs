//! The API contract as the tests hold the code to it: every response an end-to-end test receives
//! is checked against `openapi.yaml` (documented path, method and status, JSON where the spec
//! says JSON, and the response schema), so the spec cannot drift from the code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// openapi.yaml, parsed, with the validators built so far (one per operation and status).
pub struct OpenApi {
    spec: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// The spec of this repository, read once per test process.
pub fn spec() -> &'static OpenApi {
    static SPEC: OnceLock<OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml");
        let text = std::fs::read_to_string(&path).expect("openapi.yaml at the repository root");
        OpenApi::parse(&text)
    })
}

pub use crate::router::template_matches;

impl OpenApi {
    pub fn parse(text: &str) -> Self {
        let spec: Value = serde_yaml::from_str(text).expect("openapi.yaml is YAML");
        Self {
            spec,
            validators: Mutex::new(HashMap::new()),
        }
    }

    pub fn document(&self) -> &Value {
        &self.spec
    }

    /// Follows a local `$ref` (`#/components/...`) if `value` is one.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.spec.pointer(pointer).unwrap_or(&Value::Null)
            }
            None => value,
        }
    }

    /// Whether the spec has an operation for this method and path: only those reach a function;
    /// anything else is answered by the router (API Gateway, or `cargo lambda watch` locally).
    pub fn documents(&self, method: &str, path_and_query: &str) -> bool {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let method = method.to_ascii_lowercase();
        self.spec["paths"].as_object().is_some_and(|paths| {
            paths.iter().any(|(template, item)| {
                template_matches(template, path) && item.get(&method).is_some()
            })
        })
    }

    /// Checks one response; the error says what does not match the spec.
    pub fn check(
        &self,
        method: &str,
        path_and_query: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let paths = self.spec["paths"]
            .as_object()
            .ok_or("openapi.yaml has no paths")?;
        let (template, item) = paths
            .iter()
            .find(|(template, _)| template_matches(template, path))
            .ok_or_else(|| format!("{path} is not a path in openapi.yaml"))?;
        let method = method.to_ascii_lowercase();
        let operation = item
            .get(&method)
            .ok_or_else(|| format!("{method} {template} is not in openapi.yaml"))?;
        let response = operation["responses"]
            .get(status.to_string())
            .map(|response| self.resolve(response))
            .ok_or_else(|| {
                format!(
                    "{method} {template} answered {status}, which openapi.yaml does not document"
                )
            })?;
        let Some(schema) = response.pointer("/content/application~1json/schema") else {
            return if body.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{method} {template} {status} has a body the spec does not describe"
                ))
            };
        };
        if !content_type.is_some_and(|value| value.starts_with("application/json")) {
            return Err(format!(
                "{method} {template} {status} answered {content_type:?}, not application/json"
            ));
        }
        let instance: Value = serde_json::from_slice(body).map_err(|error| {
            format!("{method} {template} {status}: the body is not JSON: {error}")
        })?;
        let validator = self.validator(&format!("{method} {template} {status}"), schema)?;
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|error| format!("{} at {}", error, error.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{method} {template} {status} does not match openapi.yaml: {}\n{instance}",
                errors.join("; ")
            ))
        }
    }

    /// A validator for `schema` with the whole spec as its document, so `#/components/...`
    /// references resolve.
    fn validator(&self, key: &str, schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
        let mut validators = self
            .validators
            .lock()
            .map_err(|_| "a validator panicked".to_owned())?;
        if let Some(validator) = validators.get(key) {
            return Ok(Arc::clone(validator));
        }
        let mut document = self.spec.clone();
        document["allOf"] = Value::Array(vec![schema.clone()]);
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&document)
            .map_err(|error| format!("openapi.yaml: the schema of {key} is invalid: {error}"))?;
        let validator = Arc::new(validator);
        validators.insert(key.to_owned(), Arc::clone(&validator));
        Ok(validator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_concrete_paths_segment_by_segment() {
        assert!(template_matches("/stories/{id}", "/stories/7"));
        assert!(template_matches(
            "/stories/{id}/tests/{testId}",
            "/stories/7/tests/t1"
        ));
        assert!(!template_matches("/stories/{id}", "/stories/7/tests"));
        assert!(!template_matches("/stories/{id}", "/stories/"));
        assert!(!template_matches("/stories", "/health"));
    }

    #[test]
    fn responses_that_break_the_spec_are_caught() {
        let spec = spec();
        let story = serde_json::json!({
            "id": 1, "title": "t", "asA": "", "iWant": "", "soThat": "", "description": "",
            "components": [], "status": "Draft", "version": 1,
            "createdAt": "2026-11-22T10:00:00Z", "updatedAt": "2026-11-22T10:00:00Z"
        });
        let page = serde_json::json!({ "stories": [story], "nextCursor": null });
        let json = Some("application/json");
        let bytes = |value: &Value| serde_json::to_vec(value).unwrap();
        assert_eq!(
            spec.check("GET", "/stories?limit=1", 200, json, &bytes(&page)),
            Ok(())
        );
        let mut extra = page.clone();
        extra["stories"][0]["colour"] = "red".into();
        assert!(
            spec.check("GET", "/stories", 200, json, &bytes(&extra))
                .is_err()
        );
        let mut wrong_status = page.clone();
        wrong_status["stories"][0]["status"] = "Doing".into();
        assert!(
            spec.check("GET", "/stories", 200, json, &bytes(&wrong_status))
                .is_err()
        );
        assert!(spec.check("GET", "/stories", 418, json, b"{}").is_err());
        assert!(spec.check("PUT", "/stories", 200, json, b"{}").is_err());
        assert!(
            spec.check("GET", "/stories", 200, Some("text/plain"), &bytes(&page))
                .is_err()
        );
        let error = serde_json::json!({ "error": { "code": "STORY_NOT_FOUND", "message": "m" } });
        assert_eq!(
            spec.check("GET", "/stories/9", 404, json, &bytes(&error)),
            Ok(())
        );
        let unknown_code = serde_json::json!({ "error": { "code": "OOPS", "message": "m" } });
        assert!(
            spec.check("GET", "/stories/9", 404, json, &bytes(&unknown_code))
                .is_err()
        );
        assert_eq!(spec.check("DELETE", "/stories/9", 204, None, b""), Ok(()));
        assert!(spec.documents("PATCH", "/stories/9?x=1"));
        assert!(!spec.documents("TRACE", "/stories/9"));
        assert!(!spec.documents("GET", "/nowhere"));
    }
}
