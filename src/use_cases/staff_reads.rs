//! Staff reads of personal data. Each is audited in the same transaction as the read, so no one
//! sees a person's data without a record of it.

use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::Error;
use crate::db::Position;
use crate::db::accounts::{self, Account};
use crate::db::applications::{self as application_store, Application, Event};
use crate::db::attachments::{self as attachment_store, Attachment};
use crate::db::audit::{self, Actor, Stored};
use crate::db::data_requests::{self as request_store, DataRequest, QueueFilters};
use crate::db::ids::ApplicationId;
use crate::domain::account::EmailAddress;

/// One application as staff see it: with its applicant (if not erased), every event and its
/// documents.
pub struct ApplicationCase {
    pub application: Application,
    pub applicant: Option<Account>,
    pub events: Vec<Event>,
    pub attachments: Vec<Attachment>,
}

/// Opens an application's case, recording why (`reason`).
pub async fn application(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    id: ApplicationId,
    reason: &str,
) -> Result<ApplicationCase, Error> {
    conn.transaction(async move |conn| {
        let application = application_store::find(conn, id, false)
            .await?
            .ok_or(Error::NotFound)?;
        let applicant = match application.account_id {
            Some(account) => Some(accounts::find(conn, account).await?),
            None => None,
        };
        let events = application_store::events(conn, id).await?;
        let attachments = attachment_store::list(conn, id).await?;
        let event = audit::Event {
            action: "application.viewed",
            target_type: "application",
            target_id: Some(id.0),
            subject_id: application.account_id,
            reason: Some(reason),
        };
        audit::record(conn, actor, event).await?;
        Ok(ApplicationCase {
            application,
            applicant,
            events,
            attachments,
        })
    })
    .await
}

/// A page of the data-request queue (`limit + 1` rows); every request shown is an audited read,
/// since the rows carry what residents wrote.
pub async fn data_request_queue(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    filters: &QueueFilters,
    after: Option<Position>,
    limit: i64,
) -> Result<Vec<DataRequest>, Error> {
    conn.transaction(async move |conn| {
        let rows = request_store::page(conn, filters, after, limit).await?;
        let reads: Vec<audit::Event> = rows
            .iter()
            .take(limit as usize)
            .map(|r| audit::Event {
                action: "data_request.viewed",
                target_type: "data_request",
                target_id: Some(r.id.0),
                subject_id: Some(r.account_id),
                reason: Some("data-request queue"),
            })
            .collect();
        audit::record_all(conn, actor, &reads).await?;
        Ok(rows)
    })
    .await
}

/// Looks an account up by address, recording why, whether or not one is found.
pub async fn account_by_email(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    email: &EmailAddress,
    reason: &str,
) -> Result<Account, Error> {
    let found = conn
        .transaction::<_, Error, _>(async move |conn| {
            let found = accounts::find_by_email(conn, &email.normalized()).await?;
            let event = audit::Event {
                action: "account.looked_up",
                target_type: "account",
                target_id: found.as_ref().map(|a| a.id.0),
                subject_id: found.as_ref().map(|a| a.id),
                reason: Some(reason),
            };
            audit::record(conn, actor, event).await?;
            Ok(found)
        })
        .await?;
    found.ok_or(Error::NotFound)
}

/// A page of the audit log (`limit + 1` rows, newest first). Reading it is itself a read of
/// personal data, recorded with the read.
pub async fn audit_log(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    filters: &audit::Filters,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Stored>, Error> {
    let read = audit::Event {
        action: "audit_log.viewed",
        target_type: "audit_log",
        target_id: None,
        subject_id: filters.subject_id,
        reason: Some("audit log"),
    };
    conn.transaction(async move |conn| {
        let rows = audit::page(conn, filters, before_id, limit).await?;
        audit::record(conn, actor, read).await?;
        Ok(rows)
    })
    .await
}
