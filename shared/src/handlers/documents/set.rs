//! PUT /stories/{id}/documents: a story's links and files, a new file admitted only once its
//! stored bytes pass the checks.

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::authz::Action;
use crate::authz::gate::{Access, Gate, ProjectRef};
use crate::error::{Error, FieldError, Result};
use crate::handlers::views::StoryView;
use crate::http::{Operation, header, parse_json_body};
use crate::model::{DocumentFile, DocumentLink, Story, StoryDocuments};
use crate::ports::{
    AcceptanceTestRepository, DocumentStore, ProjectDirectory, StoryChanges, StoryRepository,
    UpdateGuard, UpdateOutcome,
};
use crate::rules::documents::{
    self, MAX_FILES, StoredFileProblem, check_links, check_name, check_stored, is_file_id,
    object_key, removed_files,
};
use crate::validation::parse_if_match;

use super::{read_story, refused};

/// A write that lost a race without If-Match is re-read and re-checked this many times.
const WRITE_ATTEMPTS: usize = 4;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DocumentsBody {
    links: Vec<DocumentLink>,
    files: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileEntry {
    id: String,
    /// A new file's name, as its upload was requested; ignored for a file the story has.
    #[serde(default)]
    name: Option<String>,
}

/// PUT /stories/{id}/documents: replaces the story's links and files. A file the story does not
/// have yet must have been uploaded under its id, and its stored bytes must be what its name
/// says; a file left out is deleted from the bucket.
pub struct SetStoryDocuments<S, T, D, G> {
    stories: S,
    tests: T,
    documents: D,
    gate: Gate<G>,
}

impl<S, T, D, G> SetStoryDocuments<S, T, D, G> {
    pub fn new(stories: S, tests: T, documents: D, gate: Gate<G>) -> Self {
        Self {
            stories,
            tests,
            documents,
            gate,
        }
    }
}

fn problem_reason(problem: StoredFileProblem) -> &'static str {
    match problem {
        StoredFileProblem::TooLarge => "it is empty or larger than 25 MiB",
        StoredFileProblem::TypeMismatch => "it was stored with another content type",
        StoredFileProblem::ContentMismatch => "its bytes are not of the kind its name says",
    }
}

impl<S, T, D, G> SetStoryDocuments<S, T, D, G>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    D: DocumentStore,
    G: ProjectDirectory,
{
    /// A file the story does not have yet, once its stored bytes pass the checks. A file that
    /// fails them is deleted: nobody can name it again.
    async fn admit_new_file(
        &self,
        access: &Access,
        story_id: u64,
        entry: &FileEntry,
    ) -> Result<DocumentFile> {
        let name = entry.name.as_deref().unwrap_or_default().trim().to_owned();
        let kind = check_name(&name).map_err(|refusal| refused(&name, refusal))?;
        let key = object_key(&access.project.id, story_id, &entry.id);
        let stored = self
            .documents
            .inspect(&key)
            .await?
            .ok_or_else(|| Error::UploadNotFound {
                id: entry.id.clone(),
            })?;
        if let Err(problem) = check_stored(kind, stored.size, &stored.content_type, &stored.head) {
            self.documents.delete(&[key]).await?;
            return Err(Error::UploadContentMismatch {
                id: entry.id.clone(),
                name,
                reason: problem_reason(problem),
            });
        }
        Ok(DocumentFile {
            id: entry.id.clone(),
            name,
            content_type: kind.content_type().to_owned(),
            size: stored.size,
            added_at: Utc::now(),
            added_by: Some(access.caller.sub.clone()),
        })
    }

    /// The documents the body asks for, against the story as read.
    async fn next_documents(
        &self,
        access: &Access,
        story: &Story,
        body: &DocumentsBody,
    ) -> Result<StoryDocuments> {
        let mut files = Vec::with_capacity(body.files.len());
        for entry in &body.files {
            match story
                .documents
                .files
                .iter()
                .find(|file| file.id == entry.id)
            {
                Some(kept) => files.push(kept.clone()),
                None => files.push(self.admit_new_file(access, story.id, entry).await?),
            }
        }
        Ok(StoryDocuments {
            links: body.links.iter().map(documents::normalized).collect(),
            files,
        })
    }
}

/// The body's own problems, before anything is read.
fn check_body(body: &DocumentsBody) -> Result<()> {
    let mut problems = check_links(&body.links);
    for (index, entry) in body.files.iter().enumerate() {
        if !is_file_id(&entry.id) {
            problems.push(FieldError::new(
                format!("files[{index}].id"),
                "INVALID",
                "a file id as the upload request gave it",
            ));
        } else if body.files[..index].iter().any(|other| other.id == entry.id) {
            problems.push(FieldError::new(
                format!("files[{index}].id"),
                "DUPLICATE",
                "the same file twice",
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Validation(problems));
    }
    if body.files.len() > MAX_FILES {
        return Err(Error::TooManyDocuments {
            kind: "files",
            limit: MAX_FILES,
        });
    }
    Ok(())
}

impl<S, T, D, G> Operation for SetStoryDocuments<S, T, D, G>
where
    S: StoryRepository,
    T: AcceptanceTestRepository,
    D: DocumentStore,
    G: ProjectDirectory,
{
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::EditStory)
            .await?;
        let id = access.path_story(&request)?;
        let expected_version = parse_if_match(header(&request, "if-match"))?;
        let body: DocumentsBody = parse_json_body(&request)?;
        check_body(&body)?;
        for _ in 0..WRITE_ATTEMPTS {
            let story = read_story(&self.stories, id).await?;
            if let Some(expected) = expected_version
                && expected != story.version
            {
                return Err(Error::VersionMismatch {
                    current: story.version,
                });
            }
            let next = self.next_documents(&access, &story, &body).await?;
            let changes = StoryChanges {
                documents: Some(next.clone()),
                updated_by: Some(access.caller.sub.clone()),
                note: crate::history::ChangeNote {
                    author: Some(crate::history::Author::of(&access.caller)),
                    reason: None,
                },
                ..StoryChanges::default()
            };
            let guard = UpdateGuard {
                version: Some(story.version),
                status: None,
            };
            match self
                .stories
                .update(id, &changes, &guard, Utc::now())
                .await?
            {
                UpdateOutcome::Updated(updated) => {
                    let removed: Vec<String> = removed_files(&story.documents.files, &next.files)
                        .into_iter()
                        .map(|file| object_key(&access.project.id, id, &file.id))
                        .collect();
                    // The story no longer names them; a delete that fails leaves bytes nobody
                    // can reach, which the answer need not fail for.
                    if let Err(error) = self.documents.delete(&removed).await {
                        tracing::warn!(story_id = id, %error, "removed files stay in the bucket");
                    }
                    let tests = self.tests.list(id).await?;
                    return Ok(StoryView::new(&updated, &tests).respond(StatusCode::OK));
                }
                UpdateOutcome::NotFound => return Err(Error::StoryNotFound { id }),
                UpdateOutcome::Conflict if expected_version.is_some() => {
                    let current = read_story(&self.stories, id).await?;
                    return Err(Error::VersionMismatch {
                        current: current.version,
                    });
                }
                UpdateOutcome::Conflict => {
                    tracing::info!(story_id = id, "story changed during the write; re-reading");
                }
            }
        }
        Err(Error::ConcurrentUpdate)
    }
}
