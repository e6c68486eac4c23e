//! Reference documents of a story: the upload request that signs a browser's PUT to the
//! documents bucket, the list of links and files (a new file counts only once its stored bytes
//! pass the checks), and the signed download of a file.

mod download;
mod set;
mod upload;

pub use download::GetDocumentDownload;
pub use set::SetStoryDocuments;
pub use upload::CreateDocumentUpload;

use crate::error::{Error, Result};
use crate::model::Story;
use crate::ports::StoryRepository;
use crate::rules::documents::{FileRefusal, MAX_FILE_BYTES};

pub(super) async fn read_story<S: StoryRepository>(stories: &S, id: u64) -> Result<Story> {
    stories.get(id).await?.ok_or(Error::StoryNotFound { id })
}

/// The one answer to a file the rules refuse, wherever it was refused.
pub(super) fn refused(name: &str, refusal: FileRefusal) -> Error {
    match refusal {
        FileRefusal::TypeNotAllowed => Error::DocumentTypeNotAllowed {
            name: name.to_owned(),
        },
        FileRefusal::TooLarge => Error::DocumentTooLarge {
            limit: MAX_FILE_BYTES,
        },
        FileRefusal::BadName(problem) => Error::Validation(vec![problem]),
    }
}

#[cfg(test)]
mod tests;
