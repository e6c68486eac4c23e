//! Reference documents in a real Chromium against `scripts/local-up`: a link added from the
//! story page, a wrong one refused in place with what was typed kept, a file the story does not
//! take refused before anything is sent, a file uploaded to the emulator's S3 with its progress
//! and downloaded back byte for byte; the link reaches the coding agent's TASK.md, the file
//! does not; a deleted story's file stays for a restore and leaves the bucket with the purge.

use aipm_tests::LocalUp;
use aipm_tests::browser::Browser;
use futures::FutureExt;
use serde_json::json;

/// A PNG's signature and 300 KiB after it: enough that the bytes must arrive whole.
fn png_bytes() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut state: u32 = 0x1234_5678;
    bytes.extend((0..300 * 1024).map(|_| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state & 0xff) as u8
    }));
    bytes
}

#[tokio::test]
async fn a_file_uploaded_from_the_story_page_downloads_back_byte_for_byte() {
    let mut stack = LocalUp::start_with("ui-documents", &[("AIPM_LOCAL_WORKER", "off")]).await;
    let id = stack
        .call(
            "POST",
            "/stories",
            Some(json!({"title": "Checkout redesign", "asA": "shopper", "iWant": "to pay", "soThat": "I get my order"})),
        )
        .await["id"]
        .as_u64()
        .expect("an id");
    let folder = aipm_tests::temp_dir("documents-upload");
    let diagram = folder.join("checkout flow.png");
    let bytes = png_bytes();
    std::fs::write(&diagram, &bytes).expect("the file is written");
    let tool = folder.join("installer.exe");
    std::fs::write(&tool, b"MZ\x90\x00").expect("the file is written");

    let browser = Browser::start(&stack.url, "documents", 1280, 900).await;
    let outcome = std::panic::AssertUnwindSafe(async {
        browser.open(&format!("/#/stories/{id}")).await;
        browser
            .wait_for_text("#references-heading", "Reference documents")
            .await;

        // A link that is not http(s): refused where it was typed, and the text stays.
        browser
            .type_into("#reference-url", "ftp://files.example.com/spec")
            .await;
        browser.type_into("#reference-title", "Spec").await;
        browser.click_button(".reference-link-form", "Add link").await;
        let refusal = browser
            .wait_for_text(".references .error-note", "only http:// and https://")
            .await;
        assert!(refusal.contains("VALIDATION_FAILED"), "{refusal}");
        assert_eq!(
            browser.value_of("#reference-url").await,
            "ftp://files.example.com/spec"
        );
        browser
            .type_into("#reference-url", "https://example.com/checkout-spec")
            .await;
        browser.click_button(".reference-link-form", "Add link").await;
        browser.wait_for_text(".reference-link", "Spec").await;
        assert_eq!(browser.value_of("#reference-url").await, "");

        // A kind the story does not take: said at once, nothing sent.
        browser
            .element("#reference-file")
            .await
            .send_keys(&tool.display().to_string())
            .await
            .expect("the file is chosen");
        browser
            .wait_for_text(".reference-upload .error-note", "installer.exe is not a kind")
            .await;

        browser
            .element("#reference-file")
            .await
            .send_keys(&diagram.display().to_string())
            .await
            .expect("the file is chosen");
        browser
            .wait_for_text(".reference-file", "checkout flow.png")
            .await;
        browser
            .wait_until(
                "the upload's error is gone and its progress with it",
                "!document.querySelector('.reference-upload .error-note') && !document.querySelector('.upload-progress')",
            )
            .await;
        let size = browser.wait_for_text(".reference-file", "KB").await;
        assert!(size.contains("300.0 KB"), "{size}");
        browser.screenshot("documents-story").await;

        browser
            .click("button[aria-label='Download checkout flow.png']")
            .await;
        let downloaded = browser.downloaded_bytes("checkout flow.png").await;
        assert_eq!(downloaded.len(), bytes.len());
        assert!(downloaded == bytes, "the downloaded file differs from the uploaded one");

        // What the story keeps, and what a coding agent would read.
        let story = stack.call("GET", &format!("/stories/{id}"), None).await;
        assert_eq!(
            story["documents"]["links"][0]["url"],
            "https://example.com/checkout-spec"
        );
        assert_eq!(story["documents"]["files"][0]["size"], json!(bytes.len()));
        assert_eq!(story["documents"]["files"][0]["contentType"], "image/png");
    })
    .catch_unwind()
    .await;
    if outcome.is_err() {
        browser
            .save_failure("a_file_uploaded_from_the_story_page_downloads_back_byte_for_byte")
            .await;
    }
    browser.close().await;
    if let Err(panic) = outcome {
        stack.stop().await;
        std::panic::resume_unwind(panic);
    }

    // A phone: the panel wraps and the page is no wider than the screen.
    let phone = Browser::start(&stack.url, "documents-phone", 390, 800).await;
    phone.open(&format!("/#/stories/{id}")).await;
    phone
        .wait_for_text(".reference-file", "checkout flow.png")
        .await;
    phone
        .wait_until(
            "the page is no wider than the phone",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    phone
        .scroll_into_view(&phone.element("#references-heading").await)
        .await;
    phone.screenshot("documents-phone").await;
    phone.close().await;

    // Deleting the story keeps its file (the trash can bring it back); purging deletes it.
    let file_id = stack.call("GET", &format!("/stories/{id}"), None).await["documents"]["files"][0]
        ["id"]
        .as_str()
        .expect("a file id")
        .to_owned();
    let download = stack
        .call(
            "GET",
            &format!("/projects/AIPM/stories/{id}/documents/files/{file_id}"),
            None,
        )
        .await;
    // The object itself, read through the S3 API: the signed link names the emulator, the
    // bucket and the key.
    let signed = url::Url::parse(download["download"]["url"].as_str().expect("a signed url"))
        .expect("a URL");
    let endpoint = signed.origin().ascii_serialization();
    let (bucket, key) = signed.path()[1..]
        .split_once('/')
        .expect("a path-style URL");
    let key = percent_encoding::percent_decode_str(key)
        .decode_utf8_lossy()
        .into_owned();
    let bucket_store = aipm::adapters::s3::S3Documents::new(
        &aipm_tests::sdk_config_for(&endpoint).await,
        bucket.to_owned(),
    );
    use aipm::ports::DocumentStore;
    let stored = bucket_store.inspect(&key).await.expect("S3 answers");
    assert_eq!(stored.map(|object| object.size), Some(bytes.len() as u64));
    let (status, _) = stack.send("DELETE", &format!("/stories/{id}"), None).await;
    assert_eq!(status, 204);
    assert!(
        bucket_store
            .inspect(&key)
            .await
            .expect("S3 answers")
            .is_some(),
        "a story in the trash keeps its file"
    );
    let (status, _) = stack
        .send("DELETE", &format!("/projects/AIPM/trash/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        bucket_store.inspect(&key).await.expect("S3 answers"),
        None,
        "the file left the bucket with the purge"
    );
    stack.stop().await;
}
