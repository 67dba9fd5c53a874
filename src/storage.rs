//! Where attachments' files live: a local folder (the default, under the data folder) or
//! S3-compatible object storage, both behind `object_store`'s one interface. Only keys go in and
//! out of here; which file belongs to which application is the database's business, and
//! `use_cases::attachments` keeps the two in step (see the `storage_cleanup` table).

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, WriteMultipart};
use secrecy::ExposeSecret;

use crate::configuration::StorageSettings;

/// The part an upload is sent in: S3's smallest multipart part (5 MiB), or a small piece for a
/// local folder. At most two parts of an upload are in memory at once (one being filled, one
/// being sent).
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
const LOCAL_PART_BYTES: usize = 256 * 1024;
/// Uploads this instance streams at once; more wait (up to `UPLOAD_QUEUE_WAIT`) for a turn. With
/// S3 that bounds the memory uploads take to 4 × 2 × 5 MiB.
const CONCURRENT_UPLOADS: usize = 4;
const UPLOAD_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
    part_bytes: usize,
    uploads: Arc<tokio::sync::Semaphore>,
    /// Said in the start-up line: where files go.
    pub description: String,
}

/// Storage failed or could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("file storage: {0}")]
    Store(#[from] object_store::Error),
    /// Every upload turn stayed taken for as long as a request may wait.
    #[error("file storage: too many uploads at once")]
    Busy,
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StorageError::Store(object_store::Error::NotFound { .. })
        )
    }
}

impl FileStore {
    pub fn from_settings(settings: &StorageSettings) -> anyhow::Result<FileStore> {
        let Some(url) = &settings.url else {
            std::fs::create_dir_all(&settings.local_dir)?;
            let store = LocalFileSystem::new_with_prefix(&settings.local_dir)?;
            let folder = std::fs::canonicalize(&settings.local_dir)?;
            return Ok(FileStore {
                store: Arc::new(store),
                part_bytes: LOCAL_PART_BYTES,
                uploads: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPLOADS)),
                description: format!("files in {}", folder.display()),
            });
        };
        // object_store builds its own HTTP client (reqwest over rustls, which verifies with the
        // system's trust store): it takes the process's crypto provider, ring as everywhere else
        // here. Installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bucket = url.trim_start_matches("s3://");
        let secret = |key: &Option<secrecy::SecretString>| {
            key.as_ref()
                .map(|k| k.expose_secret().to_owned())
                .unwrap_or_default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&settings.region)
            .with_access_key_id(secret(&settings.access_key_id))
            .with_secret_access_key(secret(&settings.secret_access_key));
        if let Some(endpoint) = &settings.endpoint {
            // MinIO and most S3-compatible stores address buckets by path, often over plain http
            // inside the deployment's own network.
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_client_options(
                    ClientOptions::new().with_allow_http(endpoint.starts_with("http://")),
                );
        }
        Ok(FileStore {
            store: Arc::new(builder.build()?),
            part_bytes: S3_PART_BYTES,
            uploads: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPLOADS)),
            description: format!("files in {url}"),
        })
    }

    /// Starts writing the file `key` once one of this instance's upload turns is free; nothing is
    /// visible under `key` until `Upload::finish`.
    pub async fn upload(&self, key: &str) -> Result<Upload, StorageError> {
        let turn = tokio::time::timeout(UPLOAD_QUEUE_WAIT, self.uploads.clone().acquire_owned())
            .await
            .map_err(|_| StorageError::Busy)?
            .expect("the semaphore is never closed");
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        Ok(Upload {
            parts: WriteMultipart::new_with_chunk_size(upload, self.part_bytes),
            _turn: turn,
        })
    }

    /// The file `key`, as a stream of chunks.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let found = self.store.get(&Path::from(key)).await?;
        Ok(found.into_stream().map_err(StorageError::Store).boxed())
    }

    /// Removes the file `key`; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Whether the file `key` exists (for tests and checks).
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }
}

/// A file being written, a part at a time, holding one of the instance's upload turns.
pub struct Upload {
    parts: WriteMultipart,
    _turn: tokio::sync::OwnedSemaphorePermit,
}

impl Upload {
    /// Adds `bytes`, waiting while the previous part is still being sent.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.parts.wait_for_capacity(1).await?;
        self.parts.write(bytes);
        Ok(())
    }

    pub async fn finish(self) -> Result<(), StorageError> {
        self.parts.finish().await?;
        Ok(())
    }

    /// Gives up: what was written is discarded.
    pub async fn abort(self) -> Result<(), StorageError> {
        self.parts.abort().await?;
        Ok(())
    }
}
