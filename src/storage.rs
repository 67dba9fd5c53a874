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

/// Parts of an upload held in memory at once (object storage's smallest multipart part): a file
/// streams through in pieces of this size, never whole.
const PART_BYTES: usize = 5 * 1024 * 1024;

#[derive(Clone)]
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
    /// Said in the start-up line: where files go.
    pub description: String,
}

/// Storage failed or could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("file storage: {0}")]
pub struct StorageError(#[from] object_store::Error);

impl FileStore {
    pub fn from_settings(settings: &StorageSettings) -> anyhow::Result<FileStore> {
        let Some(url) = &settings.url else {
            std::fs::create_dir_all(&settings.local_dir)?;
            let store = LocalFileSystem::new_with_prefix(&settings.local_dir)?;
            let folder = std::fs::canonicalize(&settings.local_dir)?;
            return Ok(FileStore {
                store: Arc::new(store),
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
            description: format!("files in {url}"),
        })
    }

    /// Starts writing the file `key`; nothing is visible under `key` until `Upload::finish`.
    pub async fn upload(&self, key: &str) -> Result<Upload, StorageError> {
        let upload = self.store.put_multipart(&Path::from(key)).await?;
        Ok(Upload(WriteMultipart::new_with_chunk_size(
            upload, PART_BYTES,
        )))
    }

    /// The file `key`, as a stream of chunks.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let found = self.store.get(&Path::from(key)).await?;
        Ok(found.into_stream().map_err(StorageError).boxed())
    }

    /// Removes the file `key`; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(StorageError(other)),
        }
    }

    /// Whether the file `key` exists (for tests and checks).
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(StorageError(other)),
        }
    }
}

/// A file being written, a part at a time.
pub struct Upload(WriteMultipart);

impl Upload {
    /// Adds `bytes`, waiting while earlier parts are still being sent (at most two in flight).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        self.0.wait_for_capacity(2).await?;
        self.0.write(bytes);
        Ok(())
    }

    pub async fn finish(self) -> Result<(), StorageError> {
        self.0.finish().await?;
        Ok(())
    }

    /// Gives up: what was written is discarded.
    pub async fn abort(self) -> Result<(), StorageError> {
        self.0.abort().await?;
        Ok(())
    }
}
