//! Application use cases: submitting, and every change of status. Each runs in one transaction:
//! the change, its event row, its audit row and — when the applicant asked for them — the
//! status email in the outbox, so nothing is ever half-written. No HTTP here.

use chrono::{Datelike, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use sha2::{Digest, Sha256};

use super::{Error, attachments, payments};
use crate::db::ids::{AccountId, ApplicationId};

use crate::db::applications::{
    self as store, Application, NewApplication, NewEvent, Service, StatusChange,
};
use crate::db::audit::{self, Actor};
use crate::db::payments as payments_store;
use crate::db::{accounts, outbox};
use crate::domain::application::{
    Mover, Status, expected_decision_by, licence_expires_on, reference,
};
use crate::domain::deadlines::uk_today;
use crate::domain::payment::PaymentStatus;
use crate::domain::services::ServiceKind;
use crate::email::templates::Template;

/// What a submission answers: its status and body (201 and the new application, as the caller's
/// `view` rendered it), or those stored for the first request with the same Idempotency-Key.
pub struct Answer {
    pub status: i32,
    pub body: serde_json::Value,
}

/// Submits an application (details already validated) with its first event, audit row and
/// receipt email, in one transaction. With an Idempotency-Key the first request's answer is
/// stored in that same transaction: a retry gets it back, and the same key with another body is
/// a conflict.
pub async fn submit(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    account: AccountId,
    service: &Service,
    details: &serde_json::Value,
    key: Option<&str>,
    view: impl FnOnce(Application) -> serde_json::Result<serde_json::Value> + Send,
) -> Result<Answer, Error> {
    let request_hash = Sha256::digest(format!("{}\n{details}", service.code)).to_vec();
    conn.transaction(async move |conn| {
        // The account first (the lock order of `db::accounts`); a replay needs it live too. The
        // reference number is drawn in the same round trip (a replay or an erased account leaves
        // a gap in the numbers, as a rolled-back submit always has).
        let (applicant, number) = futures_util::future::try_join(
            accounts::lock_active_account(conn, account),
            store::next_reference_number(conn),
        )
        .await?;
        let Some(applicant) = applicant else {
            return Err(Error::Erased);
        };
        if let Some(key) = key
            && let Some(stored) =
                store::claim_idempotency_key(conn, account, key, &request_hash).await?
        {
            if stored.request_hash != request_hash {
                return Err(Error::Conflict(
                    "this Idempotency-Key was already used for a different request".into(),
                ));
            }
            return Ok(Answer {
                status: stored.status,
                body: stored.body,
            });
        }
        let application =
            insert_submitted(conn, actor, &applicant, service, details, number).await?;
        let body = view(application).map_err(anyhow::Error::from)?;
        if let Some(key) = key {
            store::store_idempotent_response(conn, account, key, 201, &body).await?;
        }
        Ok(Answer { status: 201, body })
    })
    .await
}

/// Stores a new application with its first event, its audit row and the receipt emailed to the
/// applicant, in the caller's transaction. The three rows that follow the application are sent
/// together (pipelined: one round trip).
async fn insert_submitted(
    conn: &mut AsyncPgConnection,
    actor: &Actor,
    applicant: &accounts::Account,
    service: &Service,
    details: &serde_json::Value,
    number: i64,
) -> Result<Application, diesel::result::Error> {
    let now = Utc::now();
    let reference = reference(&service.reference_prefix, now.year(), number);
    let target_days = u32::try_from(service.target_decision_days).unwrap_or(0);
    let application = store::insert(
        conn,
        &NewApplication {
            reference: &reference,
            account_id: applicant.id,
            service_code: &service.code,
            status: Status::Submitted.as_str(),
            details,
            fee_pence: service.fee_pence,
            expected_decision_by: expected_decision_by(uk_today(now), target_days),
            payment_status: PaymentStatus::at_submission(service.fee_pence).as_str(),
        },
    )
    .await?;
    let event = NewEvent {
        application_id: application.id,
        from_status: None,
        to_status: Status::Submitted.as_str(),
        actor_role: actor.role,
        actor_id: actor.id,
        public_note: None,
        internal_note: None,
    };
    let receipt = Template::ApplicationReceived {
        name: applicant.name.clone(),
        reference: application.reference.clone(),
        service: service.name.clone(),
        decision_by: application
            .expected_decision_by
            .format("%-d %B %Y")
            .to_string(),
    }
    .email();
    let conn: &AsyncPgConnection = conn;
    futures_util::future::try_join3(
        store::insert_event(conn, &event),
        audit::record(
            conn,
            actor,
            application_event("application.submitted", &application),
        ),
        outbox::enqueue(conn, Some(applicant.id), &applicant.email, &receipt),
    )
    .await?;
    Ok(application)
}

/// A request to move an application to another status.
#[derive(Debug, Clone)]
pub struct Move<'a> {
    pub to: Status,
    pub mover: Mover,
    pub actor: &'a Actor,
    pub public_note: Option<&'a str>,
    pub internal_note: Option<&'a str>,
    /// New details, for an applicant answering a request for more information.
    pub details: Option<&'a serde_json::Value>,
    /// The applicant's own account, when the applicant is the mover: anyone else's application
    /// is "not found".
    pub owner: Option<AccountId>,
}

/// Moves an application, in one transaction, if the status machine allows it.
pub async fn transition(
    conn: &mut AsyncPgConnection,
    id: ApplicationId,
    request: Move<'_>,
) -> Result<Application, Error> {
    conn.transaction(async move |conn| {
        // The applicant's account is locked before the application (the lock order of
        // `db::accounts`), so an erasure cannot slip in between and miss what this writes.
        let applicant = match request.owner {
            Some(owner) => Some(owner),
            None => store::find(conn, id, false).await?.ok_or(Error::NotFound)?.account_id,
        };
        // No one works their own case from the staff side.
        if request.mover == Mover::Staff && applicant.is_some() && applicant == request.actor.id {
            return Err(Error::Conflict(
                "this application is yours: a colleague must handle it".into(),
            ));
        }
        let applicant_live = match applicant {
            Some(account) => accounts::lock_active(conn, account).await?,
            None => true,
        };
        let current = store::find(conn, id, true)
            .await?
            .ok_or(Error::NotFound)?;
        if !applicant_live || current.account_id != applicant {
            return Err(match request.owner {
                Some(_) => Error::NotFound,
                None => Error::Conflict(
                    "the applicant's data was erased while this change was being made; reload the application".into(),
                ),
            });
        }
        // An anonymised record stays anonymous: its status can still move (a permit in force
        // ends), but no one writes new words about a person who has been erased.
        if current.account_id.is_none()
            && (request.public_note.is_some() || request.internal_note.is_some())
        {
            return Err(Error::Conflict(
                "the applicant's data has been erased: this application can change status but takes no notes".into(),
            ));
        }
        let from = current.status;
        let to = from.transition(request.to, request.mover)?;
        if to == Status::UnderReview && !current.payment_status.allows_review() {
            return Err(Error::PaymentRequired(format!(
                "the fee must be paid before review (the payment is {})",
                current.payment_status.as_str()
            )));
        }
        let service = store::active_service(conn, &current.service_code).await?;
        if to == Status::Approved
            && let Some(kind) = ServiceKind::from_code(&current.service_code)
        {
            let missing = attachments::missing_kinds(conn, id, kind.required_attachments()).await?;
            if !missing.is_empty() {
                let names: Vec<&str> = missing.iter().map(|k| k.as_str()).collect();
                return Err(Error::AttachmentsMissing(format!(
                    "the application lacks documents its service requires: {}",
                    names.join(", ")
                )));
            }
        }
        let today = uk_today(Utc::now());
        let change = StatusChange {
            status: to.as_str(),
            details: request.details,
            decided: matches!(to, Status::Approved | Status::Rejected),
            issued_licence_expires_on: (to == Status::Issued).then(|| {
                let months = service
                    .as_ref()
                    .and_then(|s| s.licence_validity_months)
                    .and_then(|m| u32::try_from(m).ok());
                licence_expires_on(today, months).or_else(|| current.details.parse().ok().and_then(|d| period_end(&d)))
            }),
            closed: to == Status::Closed,
        };
        let mut updated = store::apply_change(conn, id, &change).await?;
        // Withdrawn before anyone reviewed it: the fee goes back in full.
        if to == Status::Withdrawn
            && from == Status::Submitted
            && let Some(paid) = payments_store::successful(conn, id).await?
        {
            let left = payments_store::ledger(conn, id, updated.fee_pence)
                .await?
                .refundable_pence();
            if left > 0 {
                let system = Actor::system();
                payments::owe_refund(conn, &system, &paid, left, "withdrawn before review").await?;
                updated = payments::settle(conn, &updated).await?;
            }
        }
        store::insert_event(
            conn,
            &NewEvent {
                application_id: id,
                from_status: Some(from.as_str()),
                to_status: to.as_str(),
                actor_role: request.actor.role,
                actor_id: request.actor.id,
                public_note: request.public_note,
                internal_note: request.internal_note,
            },
        )
        .await?;
        let action = if request.details.is_some() {
            "application.details_updated"
        } else {
            "application.status_changed"
        };
        audit::record(conn, request.actor, application_event(action, &updated)).await?;
        // The applicant hears about what the council did, not about their own actions.
        if request.mover == Mover::Staff {
            notify_applicant(conn, &updated, service.as_ref(), to, request.public_note).await?;
        }
        Ok(updated)
    })
    .await
}

/// Assigns an application to a member of staff (who must have the staff or admin role).
pub async fn assign(
    conn: &mut AsyncPgConnection,
    id: ApplicationId,
    staff: AccountId,
    actor: &Actor,
) -> Result<Application, Error> {
    conn.transaction(async move |conn| {
        // The applicant's account before the application (the lock order of `db::accounts`).
        let applicant = store::find(conn, id, false)
            .await?
            .ok_or(Error::NotFound)?
            .account_id;
        if let Some(applicant) = applicant {
            accounts::lock_active(conn, applicant).await?;
        }
        store::find(conn, id, true).await?.ok_or(Error::NotFound)?;
        // The assignee must be live staff: not erased, and locked so that it cannot be erased
        // while the assignment is written.
        let not_staff = || Error::Conflict("staff_id is not a council staff account".into());
        if !accounts::lock_active(conn, staff).await? {
            return Err(not_staff());
        }
        let assignee = accounts::find(conn, staff).await.map_err(|e| match e {
            diesel::result::Error::NotFound => not_staff(),
            other => other.into(),
        })?;
        if !assignee.role.is_staff() {
            return Err(Error::Conflict(
                "staff_id is not a council staff account".into(),
            ));
        }
        let updated = store::assign(conn, id, staff).await?;
        audit::record(
            conn,
            actor,
            application_event("application.assigned", &updated),
        )
        .await?;
        Ok(updated)
    })
    .await
}

/// Emails the applicant about the new status, if they asked for status emails.
async fn notify_applicant(
    conn: &mut AsyncPgConnection,
    application: &Application,
    service: Option<&Service>,
    to: Status,
    public_note: Option<&str>,
) -> Result<(), diesel::result::Error> {
    let Some(account_id) = application.account_id else {
        return Ok(());
    };
    let account = accounts::find(conn, account_id).await?;
    if !account.status_update_emails {
        return Ok(());
    }
    let email = Template::StatusChanged {
        name: account.name,
        reference: application.reference.clone(),
        service: service.map_or_else(|| application.service_code.clone(), |s| s.name.clone()),
        status: to.describe().to_owned(),
        note: public_note.map(str::to_owned),
    };
    outbox::enqueue(conn, Some(account_id), &account.email, &email.email()).await
}

/// The last day of the period applied for, for licences that run for that period.
fn period_end(details: &serde_json::Value) -> Option<chrono::NaiveDate> {
    details.get("end_date")?.as_str()?.parse().ok()
}

fn application_event<'a>(action: &'a str, application: &Application) -> audit::Event<'a> {
    audit::Event {
        action,
        target_type: "application",
        target_id: Some(application.id.0),
        subject_id: application.account_id,
        reason: None,
    }
}
