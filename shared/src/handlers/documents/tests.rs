//! Unit tests of reference documents through their operations, with an in-memory bucket:
//! upload requests, the checks before a file counts, links, downloads, deletes.
use super::*;
use crate::adapters::memory::MemoryStore;
use crate::adapters::memory_documents::MemoryDocuments;
use crate::adapters::memory_projects::{MemoryProjects, local_gate};
use crate::handlers::delete_story::DeleteStory;
use crate::handlers::test_support::{error_code, json, request, seed_story, with_path};
use crate::ports::StoryRepository;
use lambda_http::{Body, Response};

/// The status and stable code of a refusal.
fn refusal(response: &Response<Body>) -> (u16, String) {
    (response.status().as_u16(), error_code(response))
}
use crate::http::respond;
use lambda_http::RequestExt;
use lambda_http::http::Method;
use serde_json::{Value, json};
use std::collections::HashMap;

const PDF: &[u8] = b"%PDF-1.7\n% a test file\n";

async fn ask_upload(
    store: &MemoryStore,
    bucket: &MemoryDocuments,
    id: u64,
    body: Value,
) -> Response<Body> {
    let operation = CreateDocumentUpload::new(store.clone(), bucket.clone(), local_gate());
    let request = with_path(
        request(Method::POST, "/x", &body.to_string()),
        "id",
        &id.to_string(),
    );
    respond(&operation, request).await
}

async fn put_documents(
    store: &MemoryStore,
    bucket: &MemoryDocuments,
    id: u64,
    body: Value,
    if_match: Option<u64>,
) -> Response<Body> {
    let operation: SetStoryDocuments<MemoryStore, MemoryStore, MemoryDocuments, MemoryProjects> =
        SetStoryDocuments::new(store.clone(), store.clone(), bucket.clone(), local_gate());
    let mut request = with_path(
        request(Method::PUT, "/x", &body.to_string()),
        "id",
        &id.to_string(),
    );
    if let Some(version) = if_match {
        request
            .headers_mut()
            .insert("if-match", format!("\"{version}\"").parse().unwrap());
    }
    respond(&operation, request).await
}

async fn download(
    store: &MemoryStore,
    bucket: &MemoryDocuments,
    id: u64,
    file: &str,
) -> Response<Body> {
    let operation = GetDocumentDownload::new(store.clone(), bucket.clone(), local_gate());
    let request = request(Method::GET, "/x", "").with_path_parameters(HashMap::from([
        ("id".to_owned(), id.to_string()),
        ("fileId".to_owned(), file.to_owned()),
    ]));
    respond(&operation, request).await
}

/// Asks for an upload and stores `bytes` as the browser's signed PUT would; the file's id.
async fn upload(
    store: &MemoryStore,
    bucket: &MemoryDocuments,
    id: u64,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> String {
    let asked = ask_upload(
        store,
        bucket,
        id,
        json!({"name": name, "contentType": content_type, "size": bytes.len()}),
    )
    .await;
    assert_eq!(asked.status(), 201, "{}", json(&asked));
    let answer = json(&asked);
    let key = answer["upload"]["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("memory://documents/")
        .to_owned();
    assert_eq!(answer["upload"]["method"], "PUT");
    assert_eq!(answer["upload"]["headers"]["content-type"], content_type);
    bucket.put(&key, content_type, bytes);
    answer["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_uploaded_file_counts_once_its_bytes_pass_and_downloads_by_a_signed_link() {
    let (store, bucket) = (MemoryStore::new(), MemoryDocuments::default());
    let story = seed_story(&store, "Export", None).await;
    let file = upload(
        &store,
        &bucket,
        story.id,
        "Spec.pdf",
        "application/pdf",
        PDF,
    )
    .await;
    assert!(bucket.keys()[0].ends_with(&format!("/stories/{}/{file}", story.id)));

    let set = put_documents(
        &store,
        &bucket,
        story.id,
        json!({
            "links": [{"url": "https://example.com/design", "title": " Design "}],
            "files": [{"id": file, "name": "Spec.pdf"}]
        }),
        Some(story.version),
    )
    .await;
    assert_eq!(set.status(), 200, "{}", json(&set));
    let view = json(&set);
    assert_eq!(view["version"], story.version + 1);
    assert_eq!(view["documents"]["links"][0]["title"], "Design");
    assert_eq!(view["documents"]["files"][0]["size"], PDF.len());
    assert_eq!(
        view["documents"]["files"][0]["contentType"],
        "application/pdf"
    );

    let fetched = download(&store, &bucket, story.id, &file).await;
    assert_eq!(fetched.status(), 200, "{}", json(&fetched));
    let fetched = json(&fetched);
    assert_eq!(fetched["name"], "Spec.pdf");
    assert_eq!(fetched["download"]["method"], "GET");

    let missing = download(&store, &bucket, story.id, &"0".repeat(32)).await;
    assert_eq!(refusal(&missing), (404, "DOCUMENT_NOT_FOUND".into()));
}

#[tokio::test]
async fn disallowed_types_and_sizes_are_refused_before_anything_is_signed() {
    let (store, bucket) = (MemoryStore::new(), MemoryDocuments::default());
    let story = seed_story(&store, "Export", None).await;
    let cases = [
        (
            json!({"name": "tool.exe", "contentType": "application/octet-stream", "size": 3}),
            415,
            "DOCUMENT_TYPE_NOT_ALLOWED",
        ),
        (
            json!({"name": "page.pdf", "contentType": "text/html", "size": 3}),
            415,
            "DOCUMENT_TYPE_NOT_ALLOWED",
        ),
        (
            json!({"name": "huge.pdf", "contentType": "application/pdf", "size": 25 * 1024 * 1024 + 1}),
            413,
            "DOCUMENT_TOO_LARGE",
        ),
        (
            json!({"name": "a/b.txt", "contentType": "text/plain", "size": 3}),
            400,
            "VALIDATION_FAILED",
        ),
        (
            json!({"name": "a.txt", "contentType": "text/plain", "size": -1}),
            400,
            "INVALID_FIELD_TYPE",
        ),
    ];
    for (body, status, code) in cases {
        let answer = ask_upload(&store, &bucket, story.id, body.clone()).await;
        assert_eq!(refusal(&answer), (status, code.into()), "{body}");
    }
    let unknown = ask_upload(
        &store,
        &bucket,
        999,
        json!({"name": "a.txt", "contentType": "text/plain", "size": 3}),
    )
    .await;
    assert_eq!(refusal(&unknown), (404, "STORY_NOT_FOUND".into()));
    assert!(bucket.keys().is_empty());
}

#[tokio::test]
async fn bytes_that_are_not_what_the_name_says_are_refused_and_discarded() {
    let (store, bucket) = (MemoryStore::new(), MemoryDocuments::default());
    let story = seed_story(&store, "Export", None).await;
    let file = upload(
        &store,
        &bucket,
        story.id,
        "spec.pdf",
        "application/pdf",
        b"<script>alert(1)</script>",
    )
    .await;
    let set = put_documents(
        &store,
        &bucket,
        story.id,
        json!({"links": [], "files": [{"id": file, "name": "spec.pdf"}]}),
        None,
    )
    .await;
    assert_eq!(refusal(&set), (422, "UPLOAD_CONTENT_MISMATCH".into()));
    assert!(bucket.keys().is_empty(), "the object is gone");
    let stored = StoryRepository::get(&store, story.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.documents.is_empty());
    assert_eq!(stored.version, story.version, "nothing written");

    // A name that claims another kind than the one uploaded.
    let file = upload(
        &store,
        &bucket,
        story.id,
        "notes.txt",
        "text/plain",
        b"plain words",
    )
    .await;
    let set = put_documents(
        &store,
        &bucket,
        story.id,
        json!({"links": [], "files": [{"id": file, "name": "notes.pdf"}]}),
        None,
    )
    .await;
    assert_eq!(refusal(&set), (422, "UPLOAD_CONTENT_MISMATCH".into()));

    let never = put_documents(
        &store,
        &bucket,
        story.id,
        json!({"links": [], "files": [{"id": "a".repeat(32), "name": "x.pdf"}]}),
        None,
    )
    .await;
    assert_eq!(refusal(&never), (409, "UPLOAD_NOT_FOUND".into()));
    let forged = put_documents(
        &store,
        &bucket,
        story.id,
        json!({"links": [], "files": [{"id": "../../p2/stories/1/x", "name": "x.pdf"}]}),
        None,
    )
    .await;
    assert_eq!(refusal(&forged), (400, "VALIDATION_FAILED".into()));
    let bad_link = put_documents(
        &store,
        &bucket,
        story.id,
        json!({"links": [{"url": "javascript:alert(1)", "title": "x"}], "files": []}),
        None,
    )
    .await;
    assert_eq!(refusal(&bad_link), (400, "VALIDATION_FAILED".into()));
    assert_eq!(
        json(&bad_link)["error"]["details"]["fields"][0]["field"],
        "links[0].url"
    );
}

#[tokio::test]
async fn a_stale_version_writes_nothing_and_a_removed_file_leaves_the_bucket() {
    let (store, bucket) = (MemoryStore::new(), MemoryDocuments::default());
    let story = seed_story(&store, "Export", None).await;
    let keep = upload(&store, &bucket, story.id, "a.md", "text/markdown", b"# A").await;
    let drop = upload(
        &store,
        &bucket,
        story.id,
        "b.png",
        "image/png",
        b"\x89PNG\r\n\x1a\nrest",
    )
    .await;
    let both = json!({"links": [], "files": [{"id": keep, "name": "a.md"}, {"id": drop, "name": "b.png"}]});
    let stale = put_documents(
        &store,
        &bucket,
        story.id,
        both.clone(),
        Some(story.version + 5),
    )
    .await;
    assert_eq!(refusal(&stale), (412, "VERSION_MISMATCH".into()));
    let set = put_documents(&store, &bucket, story.id, both, Some(story.version)).await;
    assert_eq!(set.status(), 200, "{}", json(&set));
    assert_eq!(bucket.keys().len(), 2);

    let one = put_documents(
        &store,
        &bucket,
        story.id,
        json!({"links": [], "files": [{"id": keep}]}),
        Some(story.version + 1),
    )
    .await;
    assert_eq!(one.status(), 200, "{}", json(&one));
    assert_eq!(json(&one)["documents"]["files"][0]["name"], "a.md");
    assert_eq!(bucket.keys().len(), 1);
    assert!(bucket.keys()[0].ends_with(&keep));
}

#[tokio::test]
async fn deleting_a_story_deletes_its_files_even_unconfirmed_ones() {
    let (store, bucket) = (MemoryStore::new(), MemoryDocuments::default());
    let epic = seed_story(&store, "Epic", None).await;
    let child = seed_story(&store, "Child", Some(epic.id)).await;
    let other = seed_story(&store, "Other", None).await;
    let file = upload(&store, &bucket, child.id, "a.txt", "text/plain", b"words").await;
    let set = put_documents(
        &store,
        &bucket,
        child.id,
        json!({"links": [], "files": [{"id": file, "name": "a.txt"}]}),
        None,
    )
    .await;
    assert_eq!(set.status(), 200);
    upload(
        &store,
        &bucket,
        epic.id,
        "never-confirmed.txt",
        "text/plain",
        b"words",
    )
    .await;
    upload(
        &store,
        &bucket,
        other.id,
        "kept.txt",
        "text/plain",
        b"words",
    )
    .await;

    let delete =
        DeleteStory::new(store.clone(), store.clone(), local_gate()).with_documents(bucket.clone());
    let request = crate::handlers::test_support::with_query(
        with_path(
            request(Method::DELETE, "/x", ""),
            "id",
            &epic.id.to_string(),
        ),
        &[("cascade", "true")],
    );
    let deleted = respond(&delete, request).await;
    assert_eq!(deleted.status(), 204);
    let keys = bucket.keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains(&format!("/stories/{}/", other.id)));
}
