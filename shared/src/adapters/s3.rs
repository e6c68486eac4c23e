//! The documents bucket on S3: signs the browser's uploads and downloads, reads what the checks
//! need of a stored file, deletes a removed file or a deleted story's folder.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use chrono::Utc;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::adapters::sdk_error;
use crate::error::{Error, Result};
use crate::ports::{DocumentStore, SignedRequest, StoredObject};
use crate::rules::documents::SNIFF_BYTES;

const BUCKET: &str = "documents bucket";
/// Long enough for 25 MiB on a slow line; the signature is worthless afterwards.
const UPLOAD_VALID_FOR: Duration = Duration::from_secs(15 * 60);
/// A download link is fetched right before it is followed.
const DOWNLOAD_VALID_FOR: Duration = Duration::from_secs(5 * 60);
/// Headers a browser sets itself and refuses to take from a script.
const SET_BY_THE_BROWSER: [&str; 2] = ["content-length", "host"];

#[derive(Debug, Clone)]
pub struct S3Documents {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Documents {
    pub fn new(sdk: &SdkConfig, bucket: String) -> Self {
        let mut config = aws_sdk_s3::config::Builder::from(sdk)
            // The default would sign a checksum of the empty body into an upload's URL, which
            // the browser's bytes could then never match.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
        // The local emulator serves every bucket at one address.
        if sdk.endpoint_url().is_some() {
            config = config.force_path_style(true);
        }
        Self {
            client: aws_sdk_s3::Client::from_conf(config.build()),
            bucket,
        }
    }

    fn signed(request: PresignedRequest, valid_for: Duration) -> SignedRequest {
        SignedRequest {
            method: request.method().to_owned(),
            url: request.uri().to_owned(),
            headers: request
                .headers()
                .filter(|(name, _)| {
                    !SET_BY_THE_BROWSER.contains(&name.to_ascii_lowercase().as_str())
                })
                .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
                .collect::<BTreeMap<_, _>>(),
            expires_at: Utc::now()
                + chrono::Duration::from_std(valid_for).unwrap_or(chrono::Duration::zero()),
        }
    }
}

fn presigning(valid_for: Duration) -> Result<PresigningConfig> {
    PresigningConfig::expires_in(valid_for)
        .map_err(|error| Error::Internal(format!("presigning: {error}")))
}

fn presign_error<E, R>(error: SdkError<E, R>) -> Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    sdk_error(BUCKET, error)
}

/// `attachment` with the name twice: plain ASCII for old clients, RFC 5987 for the rest.
fn attachment(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        utf8_percent_encode(file_name, NON_ALPHANUMERIC)
    )
}

impl DocumentStore for S3Documents {
    async fn upload_request(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> Result<SignedRequest> {
        let size = i64::try_from(size).map_err(|_| Error::DocumentTooLarge {
            limit: crate::rules::documents::MAX_FILE_BYTES,
        })?;
        // Content type and length are signed: S3 itself refuses any other type or size.
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size)
            .presigned(presigning(UPLOAD_VALID_FOR)?)
            .await
            .map_err(presign_error)?;
        Ok(Self::signed(request, UPLOAD_VALID_FOR))
    }

    async fn download_request(
        &self,
        key: &str,
        file_name: &str,
        content_type: &str,
    ) -> Result<SignedRequest> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(attachment(file_name))
            .response_content_type(content_type)
            .presigned(presigning(DOWNLOAD_VALID_FOR)?)
            .await
            .map_err(presign_error)?;
        Ok(Self::signed(request, DOWNLOAD_VALID_FOR))
    }

    async fn inspect(&self, key: &str) -> Result<Option<StoredObject>> {
        let head = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => head,
            Err(SdkError::ServiceError(context))
                if matches!(context.err(), HeadObjectError::NotFound(_)) =>
            {
                return Ok(None);
            }
            Err(error) => return Err(sdk_error(BUCKET, error)),
        };
        let size = u64::try_from(head.content_length.unwrap_or_default()).unwrap_or_default();
        if size == 0 {
            return Ok(Some(StoredObject {
                size,
                content_type: head.content_type.unwrap_or_default(),
                head: Vec::new(),
            }));
        }
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", SNIFF_BYTES - 1))
            .send()
            .await
            .map_err(|error| sdk_error(BUCKET, error))?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|error| Error::DependencyUnavailable {
                dependency: BUCKET,
                message: error.to_string(),
            })?
            .into_bytes();
        Ok(Some(StoredObject {
            size,
            content_type: head.content_type.unwrap_or_default(),
            head: bytes[..bytes.len().min(SNIFF_BYTES)].to_vec(),
        }))
    }

    async fn delete(&self, keys: &[String]) -> Result<()> {
        futures::future::try_join_all(keys.iter().map(|key| async move {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|error| sdk_error(BUCKET, error))
        }))
        .await?;
        Ok(())
    }

    async fn delete_under(&self, prefix: &str) -> Result<()> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|error| sdk_error(BUCKET, error))?;
            let keys: Vec<String> = page
                .contents()
                .iter()
                .filter_map(|object| object.key().map(str::to_owned))
                .collect();
            self.delete(&keys).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::attachment;

    #[test]
    fn a_download_keeps_the_files_name_without_letting_it_break_the_header() {
        assert_eq!(
            attachment("spec v2.pdf"),
            "attachment; filename=\"spec v2.pdf\"; filename*=UTF-8''spec%20v2%2Epdf"
        );
        let header = attachment("a\"b\r\nc;é.txt");
        assert!(header.starts_with("attachment; filename=\"a_b__c;_.txt\""));
        assert!(!header.contains('\r') && !header.contains('\n'));
    }
}
