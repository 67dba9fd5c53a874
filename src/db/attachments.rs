//! Attachments' rows, and the queue of files to remove from storage (`storage_cleanup`). The
//! files themselves are `crate::storage`'s; a trigger queues a deleted row's file for removal in
//! the deleting transaction, whatever deleted it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::ids::{ApplicationId, AttachmentId};
use crate::domain::attachment::AttachmentKind;
use crate::schema::{attachments, storage_cleanup};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = attachments)]
pub struct Attachment {
    pub id: AttachmentId,
    pub application_id: ApplicationId,
    #[diesel(deserialize_as = String)]
    pub kind: AttachmentKind,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub storage_key: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = attachments)]
pub struct NewAttachment<'a> {
    pub application_id: ApplicationId,
    pub kind: &'a str,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size_bytes: i64,
    pub sha256: &'a str,
    pub storage_key: &'a str,
}

pub async fn insert(
    conn: &mut AsyncPgConnection,
    new: &NewAttachment<'_>,
) -> QueryResult<Attachment> {
    diesel::insert_into(attachments::table)
        .values(new)
        .returning(Attachment::as_returning())
        .get_result(conn)
        .await
}

/// An application's attachments, oldest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    application: ApplicationId,
) -> QueryResult<Vec<Attachment>> {
    attachments::table
        .filter(attachments::application_id.eq(application))
        .order((attachments::created_at.asc(), attachments::id.asc()))
        .select(Attachment::as_select())
        .load(conn)
        .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    application: ApplicationId,
    id: AttachmentId,
) -> QueryResult<Option<Attachment>> {
    attachments::table
        .filter(attachments::application_id.eq(application))
        .filter(attachments::id.eq(id))
        .select(Attachment::as_select())
        .first(conn)
        .await
        .optional()
}

/// Deletes one attachment row (its file is queued for removal by the trigger).
pub async fn delete(
    conn: &mut AsyncPgConnection,
    application: ApplicationId,
    id: AttachmentId,
) -> QueryResult<Option<Attachment>> {
    diesel::delete(
        attachments::table
            .filter(attachments::application_id.eq(application))
            .filter(attachments::id.eq(id)),
    )
    .returning(Attachment::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Every attachment of `person`'s applications (for the export's files).
pub async fn of_account(
    conn: &mut AsyncPgConnection,
    person: crate::db::ids::AccountId,
) -> QueryResult<Vec<Attachment>> {
    use crate::schema::applications;
    attachments::table
        .inner_join(applications::table)
        .filter(applications::account_id.eq(person))
        .order((attachments::created_at.asc(), attachments::id.asc()))
        .select(Attachment::as_select())
        .load(conn)
        .await
}

/// Queues `key` for removal at `due` (an upload in progress: removed then unless its row is
/// written first and `cancel_cleanup` takes it off the queue).
pub async fn schedule_cleanup(
    conn: &mut AsyncPgConnection,
    key: &str,
    due: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(storage_cleanup::table)
        .values((
            storage_cleanup::storage_key.eq(key),
            storage_cleanup::due_at.eq(due),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes `key` off the queue if it is still as it was scheduled (`due`) and not yet due; false
/// otherwise: due, or leased by a sweeper (which moves `due_at`) that may be removing the file
/// right now, so the caller must not keep a row pointing at it.
pub async fn cancel_cleanup(
    conn: &mut AsyncPgConnection,
    key: &str,
    due: DateTime<Utc>,
) -> QueryResult<bool> {
    let removed = diesel::delete(
        storage_cleanup::table
            .filter(storage_cleanup::storage_key.eq(key))
            .filter(storage_cleanup::due_at.eq(due))
            .filter(storage_cleanup::due_at.gt(diesel::dsl::now)),
    )
    .execute(conn)
    .await?;
    Ok(removed == 1)
}

/// Leases up to `limit` due keys for `lease_secs` (every instance sweeps; `SKIP LOCKED` keeps
/// them apart), to be removed from storage and then `forget`-ten.
pub async fn lease_due_cleanups(
    conn: &mut AsyncPgConnection,
    limit: i64,
    lease_secs: i64,
) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Key {
        #[diesel(sql_type = diesel::sql_types::Text)]
        storage_key: String,
    }
    let keys: Vec<Key> = diesel::sql_query(
        "UPDATE storage_cleanup SET due_at = now() + make_interval(secs => $2)
         WHERE storage_key IN (SELECT storage_key FROM storage_cleanup WHERE due_at <= now()
                               ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING storage_key",
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .bind::<diesel::sql_types::Double, _>(lease_secs as f64)
    .load(conn)
    .await?;
    Ok(keys.into_iter().map(|k| k.storage_key).collect())
}

/// Takes removed files' keys off the queue.
pub async fn forget(conn: &mut AsyncPgConnection, keys: &[String]) -> QueryResult<()> {
    diesel::delete(storage_cleanup::table.filter(storage_cleanup::storage_key.eq_any(keys)))
        .execute(conn)
        .await?;
    Ok(())
}
