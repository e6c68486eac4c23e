//! GET /projects/{key}/stories/{id}/history and GET /projects/{key}/history: a story's recorded
//! changes and a project's feed, newest first, a page at a time.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::history::{HistoryCursor, HistoryEntry};
use crate::http::{Operation, json_response, query_parameter};
use crate::ports::{HistoryLog, HistoryPage, ProjectDirectory};

/// Entries per page unless `limit` says otherwise, and at most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryAnswer {
    entries: Vec<HistoryEntry>,
    /// Pass as `cursor` for the next (older) page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl From<HistoryPage> for HistoryAnswer {
    fn from(page: HistoryPage) -> Self {
        Self {
            entries: page.entries,
            next_cursor: page.next.map(|cursor| cursor.encode()),
        }
    }
}

/// `limit` and `cursor` of a history request.
fn page_request(request: &Request) -> Result<(usize, Option<HistoryCursor>)> {
    let limit = match query_parameter(request, "limit") {
        None | Some("") => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| Error::InvalidQueryParameter {
                name: "limit",
                message: format!("must be an integer from 1 to {MAX_LIMIT}"),
            })?,
    };
    let cursor = match query_parameter(request, "cursor") {
        None | Some("") => None,
        Some(token) => Some(HistoryCursor::decode(token).ok_or(Error::InvalidCursor)?),
    };
    Ok((limit, cursor))
}

/// GET /projects/{key}/stories/{id}/history: what happened to one story (it may be in the
/// trash or gone; its history stays readable to the project's people).
pub struct GetStoryHistory<H, G> {
    history: H,
    gate: Gate<G>,
}

impl<H, G> GetStoryHistory<H, G> {
    pub fn new(history: H, gate: Gate<G>) -> Self {
        Self { history, gate }
    }
}

impl<H: HistoryLog, G: ProjectDirectory> Operation for GetStoryHistory<H, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::ViewProject)
            .await?;
        let id = access.path_story(&request)?;
        let (limit, cursor) = page_request(&request)?;
        if cursor
            .as_ref()
            .is_some_and(|cursor| cursor.pk != crate::history::story_partition(id))
        {
            // A cursor only continues the listing that issued it.
            return Err(Error::InvalidCursor);
        }
        let page = self
            .history
            .story_history(id, limit, cursor.as_ref())
            .await?;
        Ok(json_response(StatusCode::OK, &HistoryAnswer::from(page)))
    }
}

/// GET /projects/{key}/history: the project's feed, every story's changes and memberships.
pub struct GetProjectHistory<H, G> {
    history: H,
    gate: Gate<G>,
}

impl<H, G> GetProjectHistory<H, G> {
    pub fn new(history: H, gate: Gate<G>) -> Self {
        Self { history, gate }
    }
}

impl<H: HistoryLog, G: ProjectDirectory> Operation for GetProjectHistory<H, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::ViewProject)
            .await?;
        let (limit, cursor) = page_request(&request)?;
        let page = self
            .history
            .project_feed(access.project.ordinal, limit, cursor.as_ref())
            .await?;
        Ok(json_response(StatusCode::OK, &HistoryAnswer::from(page)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::adapters::memory_projects::local_gate;
    use crate::handlers::test_support::{as_person, error_code, json, with_query};
    use crate::handlers::update_story::UpdateStory;
    use crate::http::respond;
    use crate::model::NewStory;
    use crate::ports::StoryRepository;
    use chrono::Utc;
    use lambda_http::http::Method;
    use serde_json::Value;

    fn new_story(title: &str) -> NewStory {
        NewStory {
            parent_id: None,
            title: title.into(),
            as_a: "PM".into(),
            i_want: "an export".into(),
            so_that: "I share".into(),
            description: String::new(),
            components: Vec::new(),
            story_point: None,
            assignee_email: None,
            created_by: Some(crate::history::Author::new(
                "local-admin",
                Some("Ada Admin"),
            )),
        }
    }

    fn actions(page: &Value) -> Vec<String> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["action"].as_str().unwrap().to_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_story_shows_its_edits_newest_first_a_page_at_a_time() {
        let store = MemoryStore::new();
        let story = store
            .create(Default::default(), new_story("Export"), Utc::now())
            .await
            .unwrap();
        let id = story.id.to_string();
        let update = UpdateStory::new(store.clone(), store.clone(), local_gate());
        for body in [
            r#"{"iWant":"a PDF"}"#,
            r#"{"title":"Export as PDF"}"#,
            r#"{"status":"Blocked","reason":"waiting on legal"}"#,
        ] {
            let path = format!("/stories/{id}");
            let answer = respond(
                &update,
                as_person(
                    "local-maintainer",
                    Method::PATCH,
                    &path,
                    body,
                    &[("id", &id)],
                ),
            )
            .await;
            assert!(answer.status().is_success(), "{body}: {:?}", json(&answer));
        }
        let history = GetStoryHistory::new(store.clone(), local_gate());
        let path = format!("/stories/{id}/history");
        let get = |query: &[(&str, &str)]| {
            with_query(
                as_person("local-viewer", Method::GET, &path, "", &[("id", &id)]),
                query,
            )
        };
        let first = json(&respond(&history, get(&[("limit", "2")])).await);
        assert_eq!(actions(&first), ["statusChanged", "storyEdited"]);
        assert_eq!(first["entries"][0]["reason"], "waiting on legal");
        assert_eq!(first["entries"][0]["author"]["sub"], "local-maintainer");
        assert_eq!(first["entries"][1]["changes"][0]["field"], "title");
        assert_eq!(first["entries"][1]["changes"][0]["before"], "Export");
        let cursor = first["nextCursor"].as_str().unwrap().to_owned();
        let second = json(&respond(&history, get(&[("limit", "2"), ("cursor", &cursor)])).await);
        assert_eq!(actions(&second), ["storyEdited", "storyCreated"]);
        assert_eq!(second["entries"][1]["author"]["name"], "Ada Admin");
        assert!(second.get("nextCursor").is_none());

        // Another story's cursor, a forged one and a silly limit are refused plainly.
        let other = (story.id + 1).to_string();
        let answer = respond(
            &history,
            with_query(
                as_person("local-viewer", Method::GET, &path, "", &[("id", &other)]),
                &[("cursor", &cursor)],
            ),
        )
        .await;
        assert_eq!(error_code(&answer), "INVALID_CURSOR");
        let answer = respond(&history, get(&[("cursor", "bm9wZQ")])).await;
        assert_eq!(error_code(&answer), "INVALID_CURSOR");
        let answer = respond(&history, get(&[("limit", "0")])).await;
        assert_eq!(error_code(&answer), "INVALID_QUERY_PARAMETER");
    }

    #[tokio::test]
    async fn the_project_feed_holds_every_story_and_an_outsider_gets_nothing() {
        let store = MemoryStore::new();
        for title in ["One", "Two"] {
            store
                .create(Default::default(), new_story(title), Utc::now())
                .await
                .unwrap();
        }
        let feed = GetProjectHistory::new(store.clone(), local_gate());
        let answer = respond(
            &feed,
            as_person("local-viewer", Method::GET, "/history", "", &[]),
        )
        .await;
        assert_eq!(actions(&json(&answer)), ["storyCreated", "storyCreated"]);
        let answer = respond(
            &feed,
            as_person("local-outsider", Method::GET, "/history", "", &[]),
        )
        .await;
        assert_eq!(
            answer.status(),
            404,
            "a non-member learns nothing: {:?}",
            json(&answer)
        );
    }
}
