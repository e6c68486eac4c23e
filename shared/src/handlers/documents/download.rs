//! GET /stories/{id}/documents/files/{fileId}: a signed download of one of a story's files.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::http::{Operation, json_response, path_parameter};
use crate::model::DocumentFile;
use crate::ports::{DocumentStore, ProjectDirectory, SignedRequest, StoryRepository};
use crate::rules::documents::object_key;

use super::read_story;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DownloadAnswer<'a> {
    #[serde(flatten)]
    file: &'a DocumentFile,
    download: SignedRequest,
}

/// GET /stories/{id}/documents/files/{fileId}: a short-lived signed download of one file.
pub struct GetDocumentDownload<S, D, G> {
    stories: S,
    documents: D,
    gate: Gate<G>,
}

impl<S, D, G> GetDocumentDownload<S, D, G> {
    pub fn new(stories: S, documents: D, gate: Gate<G>) -> Self {
        Self {
            stories,
            documents,
            gate,
        }
    }
}

impl<S, D, G> Operation for GetDocumentDownload<S, D, G>
where
    S: StoryRepository,
    D: DocumentStore,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::ViewProject)
            .await?;
        let id = access.path_story(&request)?;
        let file_id = path_parameter(&request, "fileId").unwrap_or_default();
        let story = read_story(&self.stories, id).await?;
        let file = story
            .documents
            .files
            .iter()
            .find(|file| file.id == file_id)
            .ok_or(Error::DocumentNotFound {
                id: file_id.clone(),
            })?;
        let download = self
            .documents
            .download_request(
                &object_key(&access.project.id, id, &file.id),
                &file.name,
                &file.content_type,
            )
            .await?;
        Ok(json_response(
            StatusCode::OK,
            &DownloadAnswer { file, download },
        ))
    }
}
