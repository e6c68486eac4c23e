//! One module per API operation: each parses its request, asks its ports, shapes its response.

pub mod create_story;
pub mod get_stories;
pub mod get_story;
pub mod health_check;

#[cfg(test)]
pub(crate) mod test_support {
    use lambda_http::http::Method;
    use lambda_http::{Body, Request, RequestExt, Response};
    use serde_json::Value;
    use std::collections::HashMap;

    pub fn request(method: Method, path: &str, body: &str) -> Request {
        let mut request = Request::new(Body::from(body));
        *request.method_mut() = method;
        *request.uri_mut() = path.parse().unwrap();
        request
    }

    pub fn with_path(request: Request, name: &str, value: &str) -> Request {
        request.with_path_parameters(HashMap::from([(name.to_owned(), value.to_owned())]))
    }

    pub fn with_query(request: Request, pairs: &[(&str, &str)]) -> Request {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        request.with_query_string_parameters(map)
    }

    pub fn json(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    pub fn error_code(response: &Response<Body>) -> String {
        json(response)["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}
