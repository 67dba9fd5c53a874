//! Documents attached to applications. A file and its row never disagree:
//! - an upload is queued for removal (`storage_cleanup`, due in an hour) before its first byte is
//!   stored, and taken off the queue in the transaction that writes its row, so a failure at any
//!   point (a bad file, a full disk, a dead process) leaves neither, once the sweep has run;
//! - a deleted row queues its file for removal in the deleting transaction (a trigger), and the
//!   sweep removes it at once.
//!
//! Files stream through in parts (256 KiB to a local folder, 5 MiB to S3), never more than two
//! parts of an upload in memory.

use bytes::Bytes;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Error, lock_application, owned_application};
use crate::db::DbPool;
use crate::db::applications as applications_store;
use crate::db::attachments::{self as store, Attachment, NewAttachment};
use crate::db::audit::{self, Actor};
use crate::db::ids::{AccountId, ApplicationId, AttachmentId};
use crate::domain::attachment::{AttachmentKind, FileType, SNIFF_BYTES, stored_filename};
use crate::storage::{FileStore, StorageError};

/// Most documents one application may carry.
pub const MAX_PER_APPLICATION: usize = 20;
/// How long after an upload began the sweep treats its file as abandoned.
const UPLOAD_GRACE_MINUTES: i64 = 60;
/// How long one file may take to arrive (well under the grace).
const UPLOAD_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// A file in storage that no row points at yet: `attach` gives it one, `discard` removes it.
#[derive(Debug)]
pub struct StoredFile {
    key: String,
    /// When the sweeper would remove it (as stored: whole microseconds); the row may only be
    /// written while the queue still says exactly this, i.e. no sweeper has leased it.
    removal_due: DateTime<Utc>,
    file_type: FileType,
    size_bytes: i64,
    sha256: String,
}

/// Why a file was not stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("attach a PDF, PNG or JPEG file: this file's content is none of them")]
    UnsupportedType,
    #[error("the file is empty")]
    Empty,
    /// The file took longer than the upload time limit to arrive.
    #[error("the upload took too long")]
    TooSlow,
    /// The upload itself broke off (the client's body could not be read).
    #[error("the upload could not be read: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error("the database is unavailable")]
    Pool(#[from] crate::db::PoolError),
}

/// Checks, before any byte is read, that `owner` may attach documents to `application`: it is
/// theirs (else 404), it still takes documents and it has room for another (else 409).
pub async fn check_open(
    conn: &mut AsyncPgConnection,
    owner: AccountId,
    application: ApplicationId,
) -> Result<(), Error> {
    let found = owned_application(conn, owner, application).await?;
    check_takes_documents(&found)?;
    if store::list(conn, application).await?.len() >= MAX_PER_APPLICATION {
        return Err(full());
    }
    Ok(())
}

/// Streams `body` into storage under a new key, judging its type by its first bytes, counting
/// its size against `limit` and hashing it on the way. On any failure nothing stays stored
/// (removed now, or by the sweep if the process dies first).
pub async fn store_file<E: std::fmt::Display>(
    pool: &DbPool,
    files: &FileStore,
    body: impl Stream<Item = Result<Bytes, E>>,
    limit: u64,
) -> Result<StoredFile, UploadError> {
    let key = format!("attachments/{}", Uuid::new_v4());
    let due = (Utc::now() + Duration::minutes(UPLOAD_GRACE_MINUTES)).trunc_subsecs(6);
    store::schedule_cleanup(&mut *pool.get().await?, &key, due).await?;
    let mut upload = files.upload(&key).await?;
    // A client that trickles its file is cut off well before the sweeper would treat the upload
    // as abandoned.
    let written = tokio::time::timeout(UPLOAD_TIME_LIMIT, stream_into(&mut upload, body, limit))
        .await
        .unwrap_or(Err(UploadError::TooSlow));
    let outcome = match written {
        Ok(file) => upload
            .finish()
            .await
            .map(|()| file)
            .map_err(UploadError::from),
        Err(error) => {
            let _ = upload.abort().await;
            Err(error)
        }
    };
    match outcome {
        Ok((file_type, size_bytes, sha256)) => Ok(StoredFile {
            key,
            removal_due: due,
            file_type,
            size_bytes,
            sha256,
        }),
        Err(error) => {
            discard_key(pool, files, &key).await;
            Err(error)
        }
    }
}

async fn stream_into<E: std::fmt::Display>(
    upload: &mut crate::storage::Upload,
    body: impl Stream<Item = Result<Bytes, E>>,
    limit: u64,
) -> Result<(FileType, i64, String), UploadError> {
    let mut body = std::pin::pin!(body);
    let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
    let mut file_type = None;
    let mut size: u64 = 0;
    let mut hash = Sha256::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| UploadError::Interrupted(e.to_string()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(UploadError::TooLarge { limit });
        }
        if file_type.is_none() {
            let wanted = SNIFF_BYTES - head.len();
            head.extend_from_slice(&chunk[..wanted.min(chunk.len())]);
            if head.len() == SNIFF_BYTES {
                file_type = Some(FileType::sniff(&head).ok_or(UploadError::UnsupportedType)?);
            }
        }
        hash.update(&chunk);
        upload.write(&chunk).await?;
    }
    if size == 0 {
        return Err(UploadError::Empty);
    }
    // A file shorter than the sniffing window is judged on all of it.
    let file_type = match file_type {
        Some(known) => known,
        None => FileType::sniff(&head).ok_or(UploadError::UnsupportedType)?,
    };
    let size = i64::try_from(size).expect("at most the limit");
    Ok((file_type, size, format!("{:x}", hash.finalize())))
}

/// Gives a stored file its row on `owner`'s application, with its audit row, in one transaction
/// that re-checks, under the application's lock, everything `check_open` checked.
pub async fn attach(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    owner: AccountId,
    application: ApplicationId,
    kind: AttachmentKind,
    uploaded_name: &str,
    file: &StoredFile,
) -> Result<Attachment, Error> {
    let filename = stored_filename(uploaded_name, file.file_type);
    conn.transaction(async move |conn| {
        let (current, live) = lock_application(conn, application).await?;
        if !live || current.account_id != Some(owner) {
            return Err(Error::NotFound);
        }
        check_takes_documents(&current)?;
        if store::list(conn, application).await?.len() >= MAX_PER_APPLICATION {
            return Err(full());
        }
        if !store::cancel_cleanup(conn, &file.key, file.removal_due).await? {
            return Err(Error::Conflict(
                "the upload took too long and was discarded: send it again".into(),
            ));
        }
        let attachment = store::insert(
            conn,
            &NewAttachment {
                application_id: application,
                kind: kind.as_str(),
                filename: &filename,
                content_type: file.file_type.content_type(),
                size_bytes: file.size_bytes,
                sha256: &file.sha256,
                storage_key: &file.key,
            },
        )
        .await?;
        audit::record(
            conn,
            actor,
            event("attachment.added", &attachment, Some(owner)),
        )
        .await?;
        Ok(attachment)
    })
    .await
}

/// Removes a stored file that will get no row (the request failed after storing it).
pub async fn discard(pool: &DbPool, files: &FileStore, file: StoredFile) {
    discard_key(pool, files, &file.key).await;
}

/// Removes a deleted attachment's file now rather than at the sweeper's next tick.
pub async fn remove_file(pool: &DbPool, files: &FileStore, removed: &Attachment) {
    discard_key(pool, files, &removed.storage_key).await;
}

/// Removes `key`'s file and its place in the queue; whatever fails here, the sweep finishes.
async fn discard_key(pool: &DbPool, files: &FileStore, key: &str) {
    if files.delete(key).await.is_ok()
        && let Ok(mut conn) = pool.get().await
    {
        let _ = store::forget(&mut conn, &[key.to_owned()]).await;
    }
}

/// `owner`'s application's documents.
pub async fn list(
    conn: &mut AsyncPgConnection,
    owner: AccountId,
    application: ApplicationId,
) -> Result<Vec<Attachment>, Error> {
    owned_application(conn, owner, application).await?;
    Ok(store::list(conn, application).await?)
}

/// One of `owner`'s documents, to download.
pub async fn own(
    conn: &mut AsyncPgConnection,
    owner: AccountId,
    application: ApplicationId,
    id: AttachmentId,
) -> Result<Attachment, Error> {
    owned_application(conn, owner, application).await?;
    store::find(conn, application, id)
        .await?
        .ok_or(Error::NotFound)
}

/// A document as staff open it: the read is audited before anything is sent.
pub async fn open_for_staff(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    application: ApplicationId,
    id: AttachmentId,
) -> Result<Attachment, Error> {
    conn.transaction(async move |conn| {
        let found = applications_store::find(conn, application, false)
            .await?
            .ok_or(Error::NotFound)?;
        let attachment = store::find(conn, application, id)
            .await?
            .ok_or(Error::NotFound)?;
        audit::record(
            conn,
            actor,
            event("attachment.downloaded", &attachment, found.account_id),
        )
        .await?;
        Ok(attachment)
    })
    .await
}

/// Deletes one of `owner`'s documents while the application still takes changes. Its file is
/// queued for removal (the trigger); the caller may remove it at once with `remove_file`, and the
/// sweeper does otherwise. Answers the removed row.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    owner: AccountId,
    application: ApplicationId,
    id: AttachmentId,
) -> Result<Attachment, Error> {
    conn.transaction(async move |conn| {
        let (current, live) = lock_application(conn, application).await?;
        if !live || current.account_id != Some(owner) {
            return Err(Error::NotFound);
        }
        store::find(conn, application, id)
            .await?
            .ok_or(Error::NotFound)?;
        check_takes_documents(&current)?;
        let removed = store::delete(conn, application, id)
            .await?
            .ok_or(Error::NotFound)?;
        audit::record(
            conn,
            actor,
            event("attachment.deleted", &removed, Some(owner)),
        )
        .await?;
        Ok(removed)
    })
    .await
}

/// The kinds `required` lists that `application` lacks (approval waits for them).
pub(super) async fn missing_kinds(
    conn: &mut AsyncPgConnection,
    application: ApplicationId,
    required: &[AttachmentKind],
) -> Result<Vec<AttachmentKind>, diesel::result::Error> {
    let present: Vec<AttachmentKind> = store::list(conn, application)
        .await?
        .into_iter()
        .map(|a| a.kind)
        .collect();
    Ok(required
        .iter()
        .copied()
        .filter(|kind| !present.contains(kind))
        .collect())
}

/// Removes from storage the files whose removal is due (deleted rows', abandoned uploads'), in
/// leased batches: every instance may run it at once. Returns how many files went.
pub async fn remove_due_files(pool: &DbPool, files: &FileStore) -> anyhow::Result<usize> {
    let mut removed = 0;
    loop {
        let keys = store::lease_due_cleanups(&mut *pool.get().await?, 100, 300).await?;
        if keys.is_empty() {
            return Ok(removed);
        }
        let mut gone = Vec::with_capacity(keys.len());
        for key in keys {
            match files.delete(&key).await {
                Ok(()) => gone.push(key),
                // Left leased: tried again once the lease runs out.
                Err(error) => tracing::warn!(%error, "a file could not be removed from storage"),
            }
        }
        store::forget(&mut *pool.get().await?, &gone).await?;
        removed += gone.len();
        if gone.is_empty() {
            return Ok(removed);
        }
    }
}

fn check_takes_documents(application: &applications_store::Application) -> Result<(), Error> {
    if application.status.takes_documents() {
        Ok(())
    } else {
        Err(Error::Conflict(format!(
            "documents can be added or removed only while the application is submitted or more information is required (it is {})",
            application.status.as_str()
        )))
    }
}

fn full() -> Error {
    Error::Conflict(format!(
        "an application can carry at most {MAX_PER_APPLICATION} documents: delete one first"
    ))
}

fn event<'a>(
    action: &'a str,
    attachment: &Attachment,
    subject: Option<AccountId>,
) -> audit::Event<'a> {
    audit::Event {
        action,
        target_type: "attachment",
        target_id: Some(attachment.id.0),
        subject_id: subject,
        reason: None,
    }
}

/// Every instance's file sweeper: removes due files every `interval` (deleted rows' at once,
/// abandoned uploads' an hour after they began).
pub async fn run_file_sweeper(pool: DbPool, files: FileStore, interval: std::time::Duration) {
    loop {
        if let Err(error) = remove_due_files(&pool, &files).await {
            tracing::warn!(%error, "removing files from storage failed; trying again later");
        }
        tokio::time::sleep(interval).await;
    }
}
