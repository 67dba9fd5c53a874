//! Data-subject rights use cases: opening a request, deciding it (complete, refuse, extend), the
//! export, and erasure. Each decision is one transaction with its audit row and its email.
//! No HTTP here.

use chrono::{NaiveDate, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::{Value, json};

use super::Error;
use crate::db::ids::{AccountId, DataRequestId};

use crate::configuration::{DataRightsSettings, RetentionSettings};
use crate::db::applications::{self as app_store};
use crate::db::attachments::{self as attachment_store, Attachment};
use crate::db::audit::{self, Actor};
use crate::db::data_requests::{self as store, DataRequest};
use crate::db::{accounts, outbox, privacy as privacy_store};
use crate::domain::application::Status;
use crate::domain::data_request::{RequestKind, RequestStatus};
use crate::domain::deadlines;
use crate::email::templates::Template;
use crate::storage::FileStore;
use futures_util::StreamExt;

/// A staff decision on a request.
#[derive(Debug, Clone)]
pub enum Decision {
    Complete {
        reason: Option<String>,
    },
    Refuse {
        reason: String,
    },
    /// Extend to `months` beyond the first month (1 or 2 in all).
    Extend {
        months: u32,
        reason: String,
    },
}

/// Records a new request, acknowledges it by email, and audits it.
pub async fn open(
    conn: &mut AsyncPgConnection,
    settings: &DataRightsSettings,
    actor: &Actor,
    account: AccountId,
    kind: RequestKind,
    details: Option<&str>,
) -> Result<DataRequest, Error> {
    let holidays = settings.bank_holidays.clone();
    conn.transaction(async move |conn| {
        if !accounts::lock_active(conn, account).await? {
            return Err(Error::NotFound);
        }
        let now = Utc::now();
        let due = deadlines::due_by(deadlines::uk_today(now), &holidays);
        let request = store::insert(conn, account, kind, details, now, due).await?;
        let person = accounts::find(conn, account).await?;
        let email = Template::DataRequestReceived {
            name: person.name,
            kind: kind.as_str().to_owned(),
            id: request.id.to_string(),
            due_by: format_date(due),
        };
        outbox::enqueue(conn, Some(account), &person.email, &email.email()).await?;
        audit::record(
            conn,
            actor,
            request_event("data_request.received", &request),
        )
        .await?;
        Ok(request)
    })
    .await
}

/// Applies a staff decision to an open request.
pub async fn decide(
    conn: &mut AsyncPgConnection,
    settings: &DataRightsSettings,
    staff: &Actor,
    id: DataRequestId,
    decision: Decision,
) -> Result<DataRequest, Error> {
    let holidays = settings.bank_holidays.clone();
    let staff_id = staff
        .id
        .ok_or_else(|| anyhow::anyhow!("decisions are made by a member of staff"))?;
    conn.transaction(async move |conn| {
        // The person's account is locked before the request (the lock order of `db::accounts`):
        // exclusively for an erasure, which then rewrites all their rows.
        let unlocked = store::find(conn, id, false).await?.ok_or(Error::NotFound)?;
        // No one decides on their own data (or erases their own account from the staff side).
        if unlocked.account_id == staff_id {
            return Err(Error::Conflict(
                "this request is about you: a colleague must decide it".into(),
            ));
        }
        let erasing =
            unlocked.kind == RequestKind::Erasure && matches!(decision, Decision::Complete { .. });
        let live = match erasing {
            true => accounts::lock_for_erasure(conn, unlocked.account_id).await?,
            false => accounts::lock_active(conn, unlocked.account_id).await?,
        };
        if !live {
            return Err(Error::Conflict("this person's account has been erased".into()));
        }
        let request = store::find(conn, id, true).await?.ok_or(Error::NotFound)?;
        if !request.status.is_open() {
            return Err(Error::Conflict(format!("this request is already {}", request.status)));
        }
        let person = accounts::find(conn, request.account_id).await?;
        let kind = request.kind.as_str().to_owned();
        let (updated, action, email) = match decision {
            Decision::Extend { months, reason } => {
                let received = deadlines::uk_today(request.received_at);
                let due = deadlines::extended_due_by(received, months, &holidays).ok_or(Error::Invalid {
                    field: "months",
                    message: format!("must be 1 or {}: an extension is at most two further months", deadlines::MAX_EXTENSION_MONTHS),
                })?;
                if due <= request.due_by {
                    return Err(Error::Conflict(format!("the request is already due by {}", request.due_by)));
                }
                let updated = store::extend(conn, id, due, &reason).await?;
                let email = Template::DataRequestExtended {
                    name: person.name.clone(),
                    kind,
                    id: id.to_string(),
                    due_by: format_date(due),
                    reason,
                };
                (updated, "data_request.extended", Some(email))
            }
            Decision::Refuse { reason } => {
                let updated = store::decide(conn, id, RequestStatus::Refused, Some(&reason), staff_id).await?;
                let email = Template::DataRequestRefused { name: person.name.clone(), kind, id: id.to_string(), reason };
                (updated, "data_request.refused", Some(email))
            }
            Decision::Complete { reason } if request.kind == RequestKind::Erasure => {
                let kept = kept_records(conn, request.account_id).await?;
                let statement = match reason {
                    Some(reason) => format!("{reason}\n\n{kept}"),
                    None => kept.clone(),
                };
                let address = person.email.clone();
                privacy_store::erase(conn, request.account_id).await?;
                let updated = store::decide(conn, id, RequestStatus::Completed, Some(&statement), staff_id).await?;
                audit::record(conn, staff, audit::about_account("account.erased", request.account_id)).await?;
                // Sent to the address that no longer exists in the database; its row goes once sent.
                outbox::enqueue_ephemeral(conn, &address, &Template::AccountErased { id: id.to_string(), kept }.email()).await?;
                (updated, "data_request.completed", None)
            }
            Decision::Complete { reason } => {
                let updated = store::decide(conn, id, RequestStatus::Completed, reason.as_deref(), staff_id).await?;
                let outcome = match request.kind {
                    RequestKind::Access => "Your data is ready: sign in to MyNorfolk and open the request to download it.".to_owned(),
                    _ => reason.unwrap_or_else(|| "We have made the corrections you asked for.".into()),
                };
                let email = Template::DataRequestCompleted { name: person.name.clone(), kind, id: id.to_string(), outcome };
                (updated, "data_request.completed", Some(email))
            }
        };
        if let Some(email) = email {
            outbox::enqueue(conn, Some(request.account_id), &person.email, &email.email()).await?;
        }
        audit::record(conn, staff, request_event(action, &updated)).await?;
        Ok(updated)
    })
    .await
}

/// Everything held about `person`, with the Article 15 information (its retention periods are
/// `periods`, the ones the sweep applies). Audited.
pub async fn export(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    person: AccountId,
    periods: &RetentionSettings,
) -> Result<Value, Error> {
    Ok(exported(conn, actor, person, periods, false).await?.0)
}

/// `export`, with the attachments whose files go with it (read in the same transaction, so the
/// files are exactly those the document lists).
pub async fn export_with_files(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    person: AccountId,
    periods: &RetentionSettings,
) -> Result<(Value, Vec<Attachment>), Error> {
    exported(conn, actor, person, periods, true).await
}

async fn exported(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    person: AccountId,
    periods: &RetentionSettings,
    with_files: bool,
) -> Result<(Value, Vec<Attachment>), Error> {
    conn.transaction(async move |conn| {
        let data = privacy_store::export(conn, person).await?;
        let files = match with_files {
            true => attachment_store::of_account(conn, person).await?,
            false => Vec::new(),
        };
        audit::record(
            conn,
            actor,
            audit::about_account("account.exported", person),
        )
        .await?;
        let document = json!({
            "generated_at": Utc::now(),
            "subject_id": person,
            "data": data,
            "about_this_data": crate::privacy::article_15(periods),
        });
        Ok((document, files))
    })
    .await
}

/// The export as a zip archive: every attached file under
/// `attachments/<attachment id>-<file name>`, byte for byte, then `export.json`. A file that is
/// gone from storage (deleted since the export was read) is left out and named in the JSON's
/// `files_not_included`. Files are stored, not compressed (PDFs and images are compressed
/// already). The archive is written by a blocking thread to an unnamed temporary file, never held
/// whole in memory, while this task reads the files; the file is gone once the handle is dropped.
pub async fn export_archive(
    files: &FileStore,
    document: &Value,
    attachments: &[Attachment],
) -> Result<std::fs::File, Error> {
    enum Piece {
        Entry(String),
        Bytes(bytes::Bytes),
    }
    let (pieces, mut received) = tokio::sync::mpsc::channel::<Piece>(8);
    let writer = tokio::task::spawn_blocking(move || -> anyhow::Result<std::fs::File> {
        use std::io::{Seek, Write};
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(true);
        let mut archive = zip::ZipWriter::new(tempfile::tempfile()?);
        while let Some(piece) = received.blocking_recv() {
            match piece {
                Piece::Entry(name) => archive.start_file(name, options)?,
                Piece::Bytes(bytes) => archive.write_all(&bytes)?,
            }
        }
        let mut file = archive.finish()?;
        file.rewind()?;
        Ok(file)
    });
    let unavailable = |e: crate::storage::StorageError| Error::StorageUnavailable(e.into());
    let mut not_included = Vec::new();
    let mut sent = async || -> Result<(), Error> {
        for attachment in attachments {
            let mut body = match files.read(&attachment.storage_key).await {
                Ok(body) => body,
                Err(gone) if gone.is_not_found() => {
                    not_included.push(attachment.id);
                    continue;
                }
                Err(other) => return Err(unavailable(other)),
            };
            let name = format!("attachments/{}-{}", attachment.id, attachment.filename);
            if pieces.send(Piece::Entry(name)).await.is_err() {
                return Ok(()); // the writer failed: its error is reported below
            }
            while let Some(chunk) = body.next().await {
                if pieces
                    .send(Piece::Bytes(chunk.map_err(unavailable)?))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
            }
        }
        let mut document = document.clone();
        if !not_included.is_empty() {
            document["files_not_included"] = json!(not_included);
        }
        let json = serde_json::to_vec_pretty(&document).map_err(anyhow::Error::from)?;
        let _ = pieces.send(Piece::Entry("export.json".into())).await;
        let _ = pieces.send(Piece::Bytes(json.into())).await;
        Ok(())
    };
    let reading = sent().await;
    drop(pieces);
    let written = writer.await.map_err(anyhow::Error::from)?;
    reading?;
    Ok(written?)
}

/// What an erasure keeps and why (UK GDPR Article 17(3)), naming permits still in force.
async fn kept_records(
    conn: &mut AsyncPgConnection,
    person: AccountId,
) -> Result<String, diesel::result::Error> {
    let filters = app_store::Filters {
        account_id: Some(person),
        ..Default::default()
    };
    let applications = app_store::page(conn, &filters, None, 10_000).await?;
    let today = deadlines::uk_today(Utc::now());
    let in_force: Vec<String> = applications
        .iter()
        .filter(|a| {
            a.status == Status::Issued && a.licence_expires_on.is_none_or(|end| end >= today)
        })
        .map(|a| match a.licence_expires_on {
            Some(end) => format!("{} (in force until {})", a.reference, format_date(end)),
            None => format!("{} (in force)", a.reference),
        })
        .collect();
    let mut text = String::from(
        "What we kept, and why: an anonymised account record, the references, services, statuses and \
         dates of your applications, this request, and the audit log (which holds no names), because \
         the council must be able to show it met its legal duties (UK GDPR Article 17(3)(b) and (e)). \
         Your name, email address, the details you entered, the documents you attached (deleted from \
         storage too) and notes about you have been removed.",
    );
    if !in_force.is_empty() {
        text.push_str(&format!(
            " These permits are still in force, so their records are kept, anonymised, under the Highways \
             Act 1980 for as long as they run: {}.",
            in_force.join(", ")
        ));
    }
    Ok(text)
}

fn format_date(date: NaiveDate) -> String {
    date.format("%-d %B %Y").to_string()
}

fn request_event<'a>(action: &'a str, request: &DataRequest) -> audit::Event<'a> {
    audit::Event {
        action,
        target_type: "data_request",
        target_id: Some(request.id.0),
        subject_id: Some(request.account_id),
        reason: None,
    }
}
