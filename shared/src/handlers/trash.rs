//! The trash of a project: GET /projects/{key}/trash lists what was deleted,
//! POST /projects/{key}/trash/{id}/restore puts a deleted story back with its subtree, tests
//! and links, DELETE /projects/{key}/trash/{id} purges it for good (with its files).

use chrono::Utc;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

use crate::authz::Action;
use crate::authz::gate::{Access, Gate, ProjectRef};
use crate::error::{Error, Result};
use crate::history::Author;
use crate::http::{Operation, json_response, path_parameter};
use crate::ports::{DocumentStore, NoDocuments, ProjectDirectory, TrashBin, TrashedStory};
use crate::rules::documents::story_prefix;
use crate::validation::parse_story_id;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TrashList {
    trash: Vec<TrashedStory>,
}

/// GET /projects/{key}/trash: the project's deleted stories, most recent first.
pub struct ListTrash<B, G> {
    trash: B,
    gate: Gate<G>,
}

impl<B, G> ListTrash<B, G> {
    pub fn new(trash: B, gate: Gate<G>) -> Self {
        Self { trash, gate }
    }
}

impl<B: TrashBin, G: ProjectDirectory> Operation for ListTrash<B, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let access = self
            .gate
            .admit(&request, ProjectRef::of(&request), Action::ViewProject)
            .await?;
        let trash = self.trash.trashed(&access.project.id).await?;
        Ok(json_response(StatusCode::OK, &TrashList { trash }))
    }
}

/// The trashed story a request names, with the caller let in for `action` on it; 404 when it
/// is not in this project's trash.
async fn trashed_entry<B: TrashBin, G: ProjectDirectory>(
    trash: &B,
    gate: &Gate<G>,
    request: &Request,
    action: impl Fn(&TrashedStory) -> Action,
) -> Result<(Access, TrashedStory)> {
    let id = parse_story_id(&path_parameter(request, "id").unwrap_or_default())?;
    let access = gate
        .admit(request, ProjectRef::of(request), Action::ViewProject)
        .await?;
    let id = access.story(id)?;
    let entry = trash
        .trashed_one(&access.project.id, id)
        .await?
        .ok_or(Error::NotInTrash { id })?;
    gate.require(&access, action(&entry), false, request.uri().path())
        .await?;
    Ok((access, entry))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RestoreAnswer {
    restored: TrashedStory,
    /// The story's parent was gone, so it came back at the top level.
    as_root: bool,
    /// What the person should know, in a sentence.
    note: String,
}

/// POST /projects/{key}/trash/{id}/restore: whoever may delete it may bring it back.
pub struct RestoreStory<B, G> {
    trash: B,
    gate: Gate<G>,
}

impl<B, G> RestoreStory<B, G> {
    pub fn new(trash: B, gate: Gate<G>) -> Self {
        Self { trash, gate }
    }
}

/// Restoring a subtree is as weighty as deleting one.
fn delete_action(entry: &TrashedStory) -> Action {
    if entry.story_ids.len() > 1 {
        Action::DeleteSubtree
    } else {
        Action::DeleteStory
    }
}

impl<B: TrashBin, G: ProjectDirectory> Operation for RestoreStory<B, G> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        let (access, entry) =
            trashed_entry(&self.trash, &self.gate, &request, delete_action).await?;
        let restored = self
            .trash
            .restore(
                &access.project.id,
                entry.story_id,
                &Author::of(&access.caller),
                Utc::now(),
            )
            .await?
            .ok_or(Error::NotInTrash { id: entry.story_id })?;
        let stories = restored.trashed.story_ids.len();
        let note = if restored.as_root {
            format!(
                "Restored {stories} {} at the top level: the story it was under no longer exists.",
                if stories == 1 { "story" } else { "stories" }
            )
        } else {
            format!(
                "Restored {stories} {} where {} {} before.",
                if stories == 1 { "story" } else { "stories" },
                if stories == 1 { "it" } else { "they" },
                if stories == 1 { "was" } else { "were" }
            )
        };
        tracing::info!(
            story_id = entry.story_id,
            as_root = restored.as_root,
            "story restored"
        );
        Ok(json_response(
            StatusCode::OK,
            &RestoreAnswer {
                restored: restored.trashed,
                as_root: restored.as_root,
                note,
            },
        ))
    }
}

/// DELETE /projects/{key}/trash/{id}: gone for good, files included; admins only.
pub struct PurgeTrash<B, G, D = NoDocuments> {
    trash: B,
    gate: Gate<G>,
    documents: D,
}

impl<B, G> PurgeTrash<B, G> {
    pub fn new(trash: B, gate: Gate<G>) -> Self {
        Self {
            trash,
            gate,
            documents: NoDocuments,
        }
    }

    /// The same, deleting the purged stories' files.
    pub fn with_documents<D: DocumentStore>(self, documents: D) -> PurgeTrash<B, G, D> {
        PurgeTrash {
            trash: self.trash,
            gate: self.gate,
            documents,
        }
    }
}

impl<B: TrashBin, G: ProjectDirectory, D: DocumentStore> Operation for PurgeTrash<B, G, D> {
    async fn handle(&self, request: Request) -> Result<Response<Body>> {
        // As final as archiving a project: the same admins' call.
        let (access, entry) = trashed_entry(&self.trash, &self.gate, &request, |_| {
            Action::ArchiveProject
        })
        .await?;
        // Files first: if the bucket fails, the entry stays for the repeated request.
        for id in &entry.story_ids {
            self.documents
                .delete_under(&story_prefix(&access.project.id, *id))
                .await?;
        }
        self.trash
            .purge(&access.project.id, entry.story_id)
            .await?
            .ok_or(Error::NotInTrash { id: entry.story_id })?;
        tracing::info!(story_id = entry.story_id, "trash entry purged");
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }
}

#[cfg(test)]
mod tests;
