//! An in-memory documents bucket for unit tests: signs nothing real, keeps bytes in a map.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{Duration, Utc};

use crate::error::{Error, Result};
use crate::ports::{DocumentStore, SignedRequest, StoredObject};
use crate::rules::documents::SNIFF_BYTES;

/// Key → (content type, bytes).
type Objects = HashMap<String, (String, Vec<u8>)>;

#[derive(Debug, Clone, Default)]
pub struct MemoryDocuments {
    objects: Arc<Mutex<Objects>>,
}

impl MemoryDocuments {
    fn objects(&self) -> Result<std::sync::MutexGuard<'_, Objects>> {
        self.objects
            .lock()
            .map_err(|_| Error::Internal("memory documents poisoned".into()))
    }

    /// What a browser's signed PUT would store.
    pub fn put(&self, key: &str, content_type: &str, bytes: &[u8]) {
        if let Ok(mut objects) = self.objects() {
            objects.insert(key.to_owned(), (content_type.to_owned(), bytes.to_vec()));
        }
    }

    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .objects()
            .map(|objects| objects.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

fn signed(method: &str, key: &str, headers: BTreeMap<String, String>) -> SignedRequest {
    SignedRequest {
        method: method.into(),
        url: format!("memory://documents/{key}"),
        headers,
        expires_at: Utc::now() + Duration::minutes(15),
    }
}

impl DocumentStore for MemoryDocuments {
    async fn upload_request(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
    ) -> Result<SignedRequest> {
        Ok(signed(
            "PUT",
            key,
            BTreeMap::from([
                ("content-type".into(), content_type.into()),
                ("content-length".into(), size.to_string()),
            ]),
        ))
    }

    async fn download_request(
        &self,
        key: &str,
        _file_name: &str,
        _content_type: &str,
    ) -> Result<SignedRequest> {
        Ok(signed("GET", key, BTreeMap::new()))
    }

    async fn inspect(&self, key: &str) -> Result<Option<StoredObject>> {
        Ok(self
            .objects()?
            .get(key)
            .map(|(content_type, bytes)| StoredObject {
                size: bytes.len() as u64,
                content_type: content_type.clone(),
                head: bytes[..bytes.len().min(SNIFF_BYTES)].to_vec(),
            }))
    }

    async fn delete(&self, keys: &[String]) -> Result<()> {
        let mut objects = self.objects()?;
        for key in keys {
            objects.remove(key);
        }
        Ok(())
    }

    async fn delete_under(&self, prefix: &str) -> Result<()> {
        self.objects()?.retain(|key, _| !key.starts_with(prefix));
        Ok(())
    }
}
