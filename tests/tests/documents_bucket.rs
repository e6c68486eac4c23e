//! The documents bucket's adapter against the emulator's S3, over the wire: a signed upload the
//! way a browser sends it, the checks' read, a signed download, and a story's folder deleted.

use aipm::adapters::s3::S3Documents;
use aipm::ports::DocumentStore;
use aipm::rules::documents::{SNIFF_BYTES, object_key, story_prefix};
use aipm_tests::Emulator;

async fn put(request: &aipm::ports::SignedRequest, body: Vec<u8>) -> reqwest::Response {
    let mut put = reqwest::Client::new().put(&request.url).body(body);
    for (name, value) in &request.headers {
        put = put.header(name, value);
    }
    put.send().await.expect("the emulator answers")
}

#[tokio::test]
async fn a_file_goes_up_and_comes_back_by_signed_requests_and_leaves_with_its_story() {
    let mut emulator = Emulator::start().await;
    let environment = emulator.create_resources("test").await;
    let bucket = environment
        .iter()
        .find(|(name, _)| name == "AIPM_DOCUMENTS_BUCKET")
        .map(|(_, value)| value.clone())
        .expect("the bucket is in the functions' environment");
    let documents = S3Documents::new(&emulator.sdk_config().await, bucket.clone());

    // 2 KiB of a PNG: more than the checks read.
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..2048u32).map(|n| (n * 7 % 251) as u8));
    let key = object_key("p1", 42, &"a".repeat(32));
    let upload = documents
        .upload_request(&key, "image/png", bytes.len() as u64)
        .await
        .unwrap();
    assert_eq!(upload.method, "PUT");
    assert!(
        upload
            .url
            .starts_with(&format!("{}/{bucket}/", emulator.endpoint))
    );
    // What S3 enforces: the signature covers the type and the exact length.
    let signed = url::Url::parse(&upload.url).unwrap();
    let signed_headers = signed
        .query_pairs()
        .find(|(name, _)| name == "X-Amz-SignedHeaders")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    assert!(
        signed_headers.contains("content-length"),
        "{signed_headers}"
    );
    assert!(signed_headers.contains("content-type"), "{signed_headers}");
    assert!(
        !signed.query().unwrap().contains("x-amz-checksum"),
        "{}",
        upload.url
    );
    assert_eq!(upload.headers.get("content-type").unwrap(), "image/png");
    assert!(
        !upload.headers.contains_key("content-length"),
        "browsers set it"
    );
    let sent = put(&upload, bytes.clone()).await;
    assert!(sent.status().is_success(), "{}", sent.text().await.unwrap());

    let stored = documents.inspect(&key).await.unwrap().expect("stored");
    assert_eq!(stored.size, bytes.len() as u64);
    assert_eq!(stored.content_type, "image/png");
    assert_eq!(stored.head, bytes[..SNIFF_BYTES]);
    assert_eq!(
        documents
            .inspect(&object_key("p1", 42, &"b".repeat(32)))
            .await
            .unwrap(),
        None
    );

    let download = documents
        .download_request(&key, "diagram v2.png", "image/png")
        .await
        .unwrap();
    assert_eq!(download.method, "GET");
    let fetched = reqwest::get(&download.url).await.unwrap();
    assert!(fetched.status().is_success());
    let disposition = fetched.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // The neighbouring story's file stays.
    let neighbour = object_key("p1", 420, &"c".repeat(32));
    let upload = documents
        .upload_request(&neighbour, "text/plain", 5)
        .await
        .unwrap();
    assert!(put(&upload, b"words".to_vec()).await.status().is_success());
    documents
        .delete_under(&story_prefix("p1", 42))
        .await
        .unwrap();
    assert_eq!(documents.inspect(&key).await.unwrap(), None);
    assert!(documents.inspect(&neighbour).await.unwrap().is_some());
    documents
        .delete(std::slice::from_ref(&neighbour))
        .await
        .unwrap();
    assert_eq!(documents.inspect(&neighbour).await.unwrap(), None);
    emulator.stop().await;
}
