//! The staff application queue. The queue itself shows no personal data; opening an application
//! does, and is audited.

use std::sync::LazyLock;

use crate::domain::text::{ACCESS_REASON, NOTE, REQUIRED_REASON};
use crate::http::schemas;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::db::applications::{self as store, Application, Event, Filters};
use crate::db::ids::{AccountId, ApplicationId};
use crate::domain::application::{Mover, Status};
use crate::http::ApiError;
use crate::http::auth::Staff;
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::http::pagination::{self, Page};
use crate::http::views::{ApplicationView, AttachmentView, RefundView};
use crate::state::AppState;
use crate::use_cases::applications::{self, Move};
use crate::use_cases::payments::{self, RefundOutcome};
use crate::use_cases::staff_reads;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QueueQuery {
    pub status: Option<Status>,
    #[param(schema_with = crate::http::schemas::service_filter)]
    pub service: Option<String>,
    pub assigned_to: Option<Uuid>,
    /// Submitted on or after this day (UTC).
    #[param(schema_with = crate::http::schemas::date_filter)]
    pub submitted_from: Option<NaiveDate>,
    /// Submitted on or before this day (UTC).
    #[param(schema_with = crate::http::schemas::date_filter)]
    pub submitted_to: Option<NaiveDate>,
    /// A reference, or its beginning (`SKP-2026-00004`).
    #[param(schema_with = crate::http::schemas::reference_prefix)]
    pub q: Option<String>,
    #[param(schema_with = crate::http::schemas::cursor)]
    pub cursor: Option<String>,
    #[param(schema_with = crate::http::schemas::limit)]
    pub limit: Option<i64>,
}

/// A row of the queue: enough to triage, no personal data.
#[derive(Serialize, ToSchema)]
pub struct QueueItem {
    pub id: Uuid,
    #[schema(schema_with = schemas::reference)]
    pub reference: String,
    #[schema(schema_with = schemas::service_code)]
    pub service: String,
    pub status: Status,
    pub submitted_at: DateTime<Utc>,
    pub expected_decision_by: NaiveDate,
    pub assigned_to: Option<Uuid>,
}

impl From<Application> for QueueItem {
    fn from(a: Application) -> Self {
        QueueItem {
            id: a.id.into(),
            status: a.status,
            reference: a.reference,
            service: a.service_code,
            submitted_at: a.submitted_at,
            expected_decision_by: a.expected_decision_by,
            assigned_to: a.assigned_to.map(Uuid::from),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Applicant {
    pub id: Uuid,
    #[schema(schema_with = schemas::account_name)]
    pub name: String,
    #[schema(schema_with = schemas::email)]
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct StaffEventView {
    pub from: Option<Status>,
    pub to: Status,
    #[schema(max_length = 20)]
    pub actor_role: String,
    pub actor_id: Option<Uuid>,
    #[schema(max_length = 2000)]
    pub public_note: Option<String>,
    #[schema(max_length = 2000)]
    pub internal_note: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl From<Event> for StaffEventView {
    fn from(e: Event) -> Self {
        StaffEventView {
            from: e.from_status,
            to: e.to_status,
            actor_role: e.actor_role,
            actor_id: e.actor_id.map(Uuid::from),
            public_note: e.public_note,
            internal_note: e.internal_note,
            occurred_at: e.occurred_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct StaffApplicationView {
    #[serde(flatten)]
    pub application: ApplicationView,
    pub assigned_to: Option<Uuid>,
    /// `null` once the applicant's account has been erased.
    pub applicant: Option<Applicant>,
    // db::applications::EVENTS_LISTED
    #[schema(max_items = 1000)]
    pub events: Vec<StaffEventView>,
    /// The documents attached (download each at `attachments/{attachment_id}`, audited).
    // use_cases::attachments::MAX_PER_APPLICATION
    #[schema(max_items = 20)]
    pub attachments: Vec<AttachmentView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: Status,
    /// Shown to the applicant (and emailed, if they asked for status emails).
    #[schema(schema_with = crate::http::schemas::note)]
    pub public_note: Option<String>,
    /// Seen by staff only.
    #[schema(schema_with = crate::http::schemas::note)]
    pub internal_note: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DetailQuery {
    /// Why you are opening it, for the audit log (default: application case work).
    #[param(schema_with = crate::http::schemas::optional_access_reason)]
    pub reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub staff_id: Uuid,
}

/// The application queue, newest first, with filters.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(QueueQuery), responses((status = 200, body = Page<QueueItem>), (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/admin/applications")]
pub async fn application_queue(
    state: web::Data<AppState>,
    _staff: Staff,
    query: web::Query<QueueQuery>,
) -> Result<HttpResponse, ApiError> {
    let conn = state.pool.get().await?;
    let (limit, after) = pagination::parse(query.limit, query.cursor.as_deref())?;
    for (field, date) in [
        ("submitted_from", query.submitted_from),
        ("submitted_to", query.submitted_to),
    ] {
        if let Some(date) = date {
            pagination::check_year(field, date.year())?;
        }
    }
    let day_start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let filters = Filters {
        account_id: None,
        status: query.status.map(|s| s.as_str().to_owned()),
        service: super::applications::service_filter(query.service.as_deref())?,
        assigned_to: query.assigned_to.map(AccountId),
        submitted_from: query.submitted_from.and_then(day_start),
        submitted_before: query
            .submitted_to
            .and_then(|d| d.succ_opt())
            .and_then(day_start),
        reference_prefix: reference_prefix(query.q.as_deref())?,
    };
    let rows = store::page(&conn, &filters, after, limit).await?;
    Ok(HttpResponse::Ok().json(pagination::page(
        rows,
        limit,
        Application::position,
        QueueItem::from,
    )))
}

/// An application in full — details, applicant, events with internal notes. Audited.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path), DetailQuery), responses((status = 200, body = StaffApplicationView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/admin/applications/{id}")]
pub async fn application_detail(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    id: web::Path<Uuid>,
    query: web::Query<DetailQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let id = *id;
    let actor = caller.actor();
    let reason = ACCESS_REASON
        .parse_optional(query.reason.as_deref())
        .map_err(|e| ApiError::invalid("reason", e.to_string()))?
        .unwrap_or_else(|| "application case work".to_owned());
    let case = staff_reads::application(&mut conn, &actor, ApplicationId(id), &reason).await?;
    let view = StaffApplicationView {
        assigned_to: case.application.assigned_to.map(Uuid::from),
        application: case.application.into(),
        applicant: case.applicant.map(|a| Applicant {
            id: a.id.into(),
            name: a.name,
            email: a.email,
        }),
        events: case.events.into_iter().map(StaffEventView::from).collect(),
        attachments: case
            .attachments
            .into_iter()
            .map(AttachmentView::from)
            .collect(),
    };
    Ok(HttpResponse::Ok().json(view))
}

/// Moves an application to another status. Transitions outside the status machine are 409.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = TransitionRequest,
    responses(
        (status = 200, body = ApplicationView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a transition the status machine allows from here, or `attachments-missing` (approval needs every document the service requires) or `payment-required` (review needs the fee paid)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/applications/{id}/transitions")]
pub async fn transition_application(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    id: web::Path<Uuid>,
    Json(body): Json<TransitionRequest>,
) -> Result<HttpResponse, ApiError> {
    let public_note = note("public_note", body.public_note.as_deref())?;
    let internal_note = note("internal_note", body.internal_note.as_deref())?;
    let actor = caller.actor();
    let request = Move {
        to: body.to,
        mover: Mover::Staff,
        actor: &actor,
        public_note: public_note.as_deref(),
        internal_note: internal_note.as_deref(),
        details: None,
        owner: None,
    };
    let mut conn = state.pool.get().await?;
    let application = applications::transition(&mut conn, ApplicationId(*id), request).await?;
    Ok(HttpResponse::Ok().json(ApplicationView::from(application)))
}

/// A note: trimmed, at most 2000 characters, empty means none.
fn note(field: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    NOTE.parse_optional(raw)
        .map_err(|e| ApiError::invalid(field, e.to_string()))
}

/// `q`: a reference or its beginning, any case; empty means no filter.
fn reference_prefix(q: Option<&str>) -> Result<Option<String>, ApiError> {
    static RULE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(schemas::REFERENCE_PREFIX_PATTERN).expect("valid"));
    match q {
        Some(q) if q.len() > schemas::REFERENCE_PREFIX_MAX_CHARS || !RULE.is_match(q) => Err(
            ApiError::MalformedRequest("q must be a reference or its beginning".into()),
        ),
        Some(q) => Ok(Some(q.to_uppercase()).filter(|q| !q.is_empty())),
        None => Ok(None),
    }
}

/// Assigns an application to a member of staff.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = AssignRequest, responses((status = 200, body = QueueItem), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
#[post("/api/v1/admin/applications/{id}/assign")]
pub async fn assign_application(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    id: web::Path<Uuid>,
    Json(body): Json<AssignRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let application = applications::assign(
        &mut conn,
        ApplicationId(*id),
        AccountId(body.staff_id),
        &caller.actor(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(QueueItem::from(application)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// At most what is left to refund of the fee paid.
    #[schema(minimum = 1, maximum = 10_000_000)]
    #[serde(deserialize_with = "crate::http::extract::whole_i32")]
    pub amount_pence: i32,
    /// Why, for the resident (emailed) and the audit log.
    #[schema(schema_with = crate::http::schemas::required_reason)]
    pub reason: String,
}

/// Refunds some or all of an application's fee through the payment provider: audited, and the
/// resident is emailed once the provider takes it. 201 when it has; 202 when the provider could
/// not be reached (the refund is owed, and retried until it goes through). 409 when nothing was
/// paid, more than is left is asked for, or the provider refuses (then recorded as failed).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = RefundRequest,
    responses(
        (status = 201, body = RefundView),
        (status = 202, description = "Owed: the payment provider will be asked again", body = RefundView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/applications/{id}/refunds")]
pub async fn refund_fee(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    id: web::Path<Uuid>,
    Json(body): Json<RefundRequest>,
) -> Result<HttpResponse, ApiError> {
    if !(1..=10_000_000).contains(&body.amount_pence) {
        return Err(ApiError::invalid(
            "amount_pence",
            "must be from 1 to 10000000",
        ));
    }
    let reason = REQUIRED_REASON
        .parse(&body.reason)
        .map_err(|e| ApiError::invalid("reason", e.to_string()))?
        .ok_or_else(|| ApiError::invalid("reason", "is required"))?;
    let outcome = payments::refund(
        &state.pool,
        &state.payments,
        &caller.actor(),
        ApplicationId(*id),
        body.amount_pence,
        &reason,
    )
    .await?;
    Ok(match outcome {
        RefundOutcome::Submitted(refund) => HttpResponse::Created().json(RefundView::from(refund)),
        RefundOutcome::Owed(refund) => HttpResponse::Accepted().json(RefundView::from(refund)),
    })
}
