//! Reference documents: which files may be uploaded, how their first bytes must look, what a
//! link may point at, and where a file's bytes live in the documents bucket.

use crate::error::FieldError;
use crate::model::{DocumentFile, DocumentLink};

/// The largest file a story takes: 25 MiB.
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// Links and files per story, each; a story's documents stay a small part of its item.
pub const MAX_LINKS: usize = 20;
pub const MAX_FILES: usize = 20;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_NAME_CHARS: usize = 200;
/// How many leading bytes the checks read from a stored file.
pub const SNIFF_BYTES: usize = 512;

/// The kinds of file a story takes, each with the one content type it is stored and served as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Pdf,
    Png,
    Jpeg,
    Markdown,
    Text,
    Docx,
}

impl FileKind {
    pub const ALL: [FileKind; 6] = [
        FileKind::Pdf,
        FileKind::Png,
        FileKind::Jpeg,
        FileKind::Markdown,
        FileKind::Text,
        FileKind::Docx,
    ];

    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Pdf => "application/pdf",
            FileKind::Png => "image/png",
            FileKind::Jpeg => "image/jpeg",
            FileKind::Markdown => "text/markdown",
            FileKind::Text => "text/plain",
            FileKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
        }
    }

    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            FileKind::Pdf => &["pdf"],
            FileKind::Png => &["png"],
            FileKind::Jpeg => &["jpg", "jpeg"],
            FileKind::Markdown => &["md", "markdown"],
            FileKind::Text => &["txt"],
            FileKind::Docx => &["docx"],
        }
    }

    /// The kind a file name's extension names, if it is one of the allowed.
    pub fn of_name(name: &str) -> Option<FileKind> {
        let (_, extension) = name.rsplit_once('.')?;
        let extension = extension.to_ascii_lowercase();
        FileKind::ALL
            .into_iter()
            .find(|kind| kind.extensions().contains(&extension.as_str()))
    }

    /// Whether a file's first bytes are what its kind starts with. Text must be UTF-8 without
    /// NUL bytes; a character cut off at the end of the sample is fine.
    pub fn matches(self, head: &[u8]) -> bool {
        match self {
            FileKind::Pdf => head.starts_with(b"%PDF-"),
            FileKind::Png => head.starts_with(b"\x89PNG\r\n\x1a\n"),
            FileKind::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            // A .docx is a zip package.
            FileKind::Docx => head.starts_with(b"PK\x03\x04"),
            FileKind::Markdown | FileKind::Text => {
                !head.contains(&0)
                    && match std::str::from_utf8(head) {
                        Ok(_) => true,
                        Err(error) => {
                            error.error_len().is_none() && head.len() - error.valid_up_to() < 4
                        }
                    }
            }
        }
    }

    /// Every allowed extension, for error messages and the page's file picker.
    pub fn allowed_extensions() -> Vec<&'static str> {
        FileKind::ALL
            .into_iter()
            .flat_map(|kind| kind.extensions().iter().copied())
            .collect()
    }
}

/// Why a file may not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRefusal {
    /// Not one of the allowed kinds, or a content type other than its kind's.
    TypeNotAllowed,
    TooLarge,
    /// The name is empty, too long, or has control characters or path separators.
    BadName(FieldError),
}

/// Checks an upload request: a usable name, an allowed kind whose content type is the one
/// declared, and a size within the cap.
pub fn check_upload(name: &str, content_type: &str, size: u64) -> Result<FileKind, FileRefusal> {
    let kind = check_name(name)?;
    if !content_type.eq_ignore_ascii_case(kind.content_type()) {
        return Err(FileRefusal::TypeNotAllowed);
    }
    if size == 0 || size > MAX_FILE_BYTES {
        return Err(FileRefusal::TooLarge);
    }
    Ok(kind)
}

/// A usable file name whose extension is one of the allowed kinds; the kind.
pub fn check_name(name: &str) -> Result<FileKind, FileRefusal> {
    if let Some(problem) = name_problem(name) {
        return Err(FileRefusal::BadName(FieldError::new(
            "name", "INVALID", problem,
        )));
    }
    FileKind::of_name(name).ok_or(FileRefusal::TypeNotAllowed)
}

fn name_problem(name: &str) -> Option<String> {
    let length = name.chars().count();
    if name.trim().is_empty() {
        Some("a file needs a name".into())
    } else if length > MAX_NAME_CHARS {
        Some(format!("at most {MAX_NAME_CHARS} characters"))
    } else if name
        .chars()
        .any(|c| c.is_control() || c == '/' || c == '\\')
    {
        Some("no control characters or path separators".into())
    } else {
        None
    }
}

/// Checks the links a story is given: http(s) only, no credentials in them, a title each, and
/// no more than [`MAX_LINKS`]. Every problem is named by its place in the list.
pub fn check_links(links: &[DocumentLink]) -> Vec<FieldError> {
    let mut problems = Vec::new();
    if links.len() > MAX_LINKS {
        problems.push(FieldError::new(
            "links",
            "TOO_MANY",
            format!("at most {MAX_LINKS} links"),
        ));
    }
    for (index, link) in links.iter().enumerate() {
        let title = link.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            problems.push(FieldError::new(
                format!("links[{index}].title"),
                "INVALID",
                format!("a title of 1 to {MAX_TITLE_CHARS} characters"),
            ));
        } else if title.chars().any(char::is_control) {
            problems.push(FieldError::new(
                format!("links[{index}].title"),
                "INVALID",
                "no control characters",
            ));
        }
        if let Some(problem) = url_problem(&link.url) {
            problems.push(FieldError::new(
                format!("links[{index}].url"),
                "INVALID",
                problem,
            ));
        }
    }
    problems
}

fn url_problem(text: &str) -> Option<&'static str> {
    if text.chars().count() > MAX_URL_CHARS {
        return Some("at most 2048 characters");
    }
    let Ok(url) = url::Url::parse(text.trim()) else {
        return Some("not a URL: write it as https://…");
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Some("only http:// and https:// links");
    }
    // Whatever an agent reads in TASK.md must never carry a password.
    if !url.username().is_empty() || url.password().is_some() {
        return Some("a link may not carry a user name or password");
    }
    None
}

/// A link as stored: the URL as the parser writes it, the title trimmed.
pub fn normalized(link: &DocumentLink) -> DocumentLink {
    DocumentLink {
        url: url::Url::parse(link.url.trim())
            .map(String::from)
            .unwrap_or_else(|_| link.url.trim().to_owned()),
        title: link.title.trim().to_owned(),
    }
}

/// A file id as minted by the upload request: a UUID's 32 lowercase hex digits.
pub fn is_file_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where a story's files live: one folder per story, so a story's files go with one listing.
pub fn story_prefix(project_id: &str, story_id: u64) -> String {
    format!("projects/{project_id}/stories/{story_id}/")
}

pub fn object_key(project_id: &str, story_id: u64, file_id: &str) -> String {
    format!("{}{file_id}", story_prefix(project_id, story_id))
}

/// What the checks found in a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredFileProblem {
    TooLarge,
    TypeMismatch,
    /// The bytes do not start the way the declared kind does.
    ContentMismatch,
}

/// Judges an uploaded object before it becomes one of the story's files: within the cap, stored
/// as the kind's content type, and starting with the kind's bytes.
pub fn check_stored(
    kind: FileKind,
    size: u64,
    content_type: &str,
    head: &[u8],
) -> Result<(), StoredFileProblem> {
    if size == 0 || size > MAX_FILE_BYTES {
        return Err(StoredFileProblem::TooLarge);
    }
    if !content_type.eq_ignore_ascii_case(kind.content_type()) {
        return Err(StoredFileProblem::TypeMismatch);
    }
    if !kind.matches(head) {
        return Err(StoredFileProblem::ContentMismatch);
    }
    Ok(())
}

/// The files a new list removes from the old one.
pub fn removed_files<'a>(
    before: &'a [DocumentFile],
    after: &[DocumentFile],
) -> Vec<&'a DocumentFile> {
    before
        .iter()
        .filter(|file| !after.iter().any(|kept| kept.id == file.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(url: &str, title: &str) -> DocumentLink {
        DocumentLink {
            url: url.into(),
            title: title.into(),
        }
    }

    #[test]
    fn an_upload_needs_an_allowed_kind_with_its_own_content_type_and_a_size_within_the_cap() {
        assert_eq!(
            check_upload("Spec.PDF", "application/pdf", 10),
            Ok(FileKind::Pdf)
        );
        assert_eq!(
            check_upload("photo.jpeg", "image/jpeg", MAX_FILE_BYTES),
            Ok(FileKind::Jpeg)
        );
        assert_eq!(
            check_upload("notes.md", "text/markdown", 1),
            Ok(FileKind::Markdown)
        );
        assert_eq!(
            check_upload("run.exe", "application/octet-stream", 10),
            Err(FileRefusal::TypeNotAllowed)
        );
        assert_eq!(
            check_upload("page.html", "text/html", 10),
            Err(FileRefusal::TypeNotAllowed)
        );
        assert_eq!(
            check_upload("spec.pdf", "text/html", 10),
            Err(FileRefusal::TypeNotAllowed),
            "a pdf declared as HTML would be served as HTML"
        );
        assert_eq!(
            check_upload("noextension", "text/plain", 10),
            Err(FileRefusal::TypeNotAllowed)
        );
        assert_eq!(
            check_upload("big.pdf", "application/pdf", MAX_FILE_BYTES + 1),
            Err(FileRefusal::TooLarge)
        );
        assert_eq!(
            check_upload("empty.txt", "text/plain", 0),
            Err(FileRefusal::TooLarge)
        );
        for name in [
            "",
            "  ",
            "../etc/passwd.txt",
            "a\u{0}.txt",
            &"x".repeat(201),
        ] {
            assert!(
                matches!(
                    check_upload(name, "text/plain", 1),
                    Err(FileRefusal::BadName(_))
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn stored_files_must_start_like_their_kind() {
        assert!(FileKind::Pdf.matches(b"%PDF-1.7\n"));
        assert!(!FileKind::Pdf.matches(b"<html>"));
        assert!(FileKind::Png.matches(b"\x89PNG\r\n\x1a\n\0\0"));
        assert!(!FileKind::Png.matches(b"GIF89a"));
        assert!(FileKind::Jpeg.matches(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(FileKind::Docx.matches(b"PK\x03\x04rest"));
        assert!(!FileKind::Docx.matches(b"%PDF-"));
        assert!(FileKind::Text.matches("plain words, ünïcödé".as_bytes()));
        // A sample that ends inside a character is still text.
        assert!(FileKind::Markdown.matches(&"# é".as_bytes()[..4]));
        assert!(!FileKind::Text.matches(b"MZ\x90\x00\x03"));
        assert!(!FileKind::Text.matches(&[0xC3, 0x28, b'a']));
        assert_eq!(
            check_stored(FileKind::Pdf, 10, "application/pdf", b"%PDF-1.4"),
            Ok(())
        );
        assert_eq!(
            check_stored(FileKind::Pdf, 10, "text/html", b"%PDF-1.4"),
            Err(StoredFileProblem::TypeMismatch)
        );
        assert_eq!(
            check_stored(FileKind::Pdf, 10, "application/pdf", b"<script>"),
            Err(StoredFileProblem::ContentMismatch)
        );
        assert_eq!(
            check_stored(
                FileKind::Pdf,
                MAX_FILE_BYTES + 1,
                "application/pdf",
                b"%PDF-"
            ),
            Err(StoredFileProblem::TooLarge)
        );
    }

    #[test]
    fn links_are_http_with_a_title_and_no_credentials() {
        assert!(check_links(&[link("https://example.com/spec", "Spec")]).is_empty());
        assert!(check_links(&[link("http://wiki.local/page?a=1#x", "Wiki")]).is_empty());
        let fields = |links: &[DocumentLink]| -> Vec<String> {
            check_links(links)
                .into_iter()
                .map(|problem| problem.field)
                .collect()
        };
        assert_eq!(
            fields(&[
                link("https://ok.example", "ok"),
                link("javascript:alert(1)", "x"),
                link("ftp://files.example/a", "y"),
                link("https://user:secret@example.com/", "z"),
                link("not a url", "w"),
                link("https://example.com", "  "),
            ]),
            [
                "links[1].url",
                "links[2].url",
                "links[3].url",
                "links[4].url",
                "links[5].title"
            ]
        );
        let many: Vec<_> = (0..=MAX_LINKS)
            .map(|n| link(&format!("https://example.com/{n}"), "t"))
            .collect();
        assert_eq!(fields(&many), ["links"]);
        assert_eq!(
            normalized(&link(" https://Example.COM ", " Spec ")),
            link("https://example.com/", "Spec")
        );
    }

    #[test]
    fn file_ids_and_keys_keep_projects_and_stories_apart() {
        assert!(is_file_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_file_id("../../other-project/stories/1/x"));
        assert!(!is_file_id("0123456789ABCDEF0123456789ABCDEF"));
        assert_eq!(
            object_key("p1", 7, "ab"),
            "projects/p1/stories/7/ab".to_owned()
        );
        assert!(!object_key("p1", 70, "x").starts_with(&story_prefix("p1", 7)));
    }
}
