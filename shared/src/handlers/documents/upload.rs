//! POST /stories/{id}/documents/uploads: checks a file's kind and size and signs its upload.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::authz::Action;
use crate::authz::gate::{Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::http::{Operation, json_response, parse_json_body};
use crate::ports::{DocumentStore, ProjectDirectory, SignedRequest, StoryRepository};
use crate::rules::documents::{MAX_FILES, check_upload, object_key};

use super::{read_story, refused};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct UploadBody {
    name: String,
    content_type: String,
    size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UploadAnswer<'a> {
    id: &'a str,
    name: &'a str,
    content_type: &'a str,
    size: u64,
    /// The PUT the browser sends the bytes with; the file counts once the story's documents
    /// name it.
    upload: SignedRequest,
}

/// POST /stories/{id}/documents/uploads: signs the upload of one file.
pub struct CreateDocumentUpload<S, D, G> {
    stories: S,
    documents: D,
    gate: Gate<G>,
}

impl<S, D, G> CreateDocumentUpload<S, D, G> {
    pub fn new(stories: S, documents: D, gate: Gate<G>) -> Self {
        Self {
            stories,
            documents,
            gate,
        }
    }
}

impl<S, D, G> Operation for CreateDocumentUpload<S, D, G>
where
    S: StoryRepository,
    D: DocumentStore,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::EditStory)
            .await?;
        let id = access.path_story(&request)?;
        let body: UploadBody = parse_json_body(&request)?;
        let kind = check_upload(&body.name, &body.content_type, body.size)
            .map_err(|refusal| refused(&body.name, refusal))?;
        let story = read_story(&self.stories, id).await?;
        if story.documents.files.len() >= MAX_FILES {
            return Err(Error::TooManyDocuments {
                kind: "files",
                limit: MAX_FILES,
            });
        }
        let file_id = uuid::Uuid::new_v4().simple().to_string();
        let upload = self
            .documents
            .upload_request(
                &object_key(&access.project.id, id, &file_id),
                kind.content_type(),
                body.size,
            )
            .await?;
        Ok(json_response(
            StatusCode::CREATED,
            &UploadAnswer {
                id: &file_id,
                name: body.name.trim(),
                content_type: kind.content_type(),
                size: body.size,
                upload,
            },
        ))
    }
}
