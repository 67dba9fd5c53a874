//! The service catalogue and a resident's own applications.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::db::applications::{self as store, Application, Event, Filters, Service};
use crate::db::ids::ApplicationId;
use crate::domain::application::{Mover, Status};
use crate::domain::attachment::AttachmentKind;
use crate::domain::deadlines::uk_today;
use crate::domain::services::ServiceKind;
use crate::domain::validation::ValidationErrors;
use crate::http::ApiError;
use crate::http::auth::{Authenticated, CheckedRead};
use crate::http::error::Problem;
use crate::http::extract::{Json, idempotency_key};
use crate::http::pagination::{self, IdPageQuery, Page};
use crate::http::schemas;
use crate::http::views::ApplicationView;
use crate::state::AppState;
use crate::use_cases::Error;
use crate::use_cases::applications::{self, Move};

#[derive(Serialize, ToSchema)]
pub struct ServiceView {
    #[schema(example = "skip-permit")]
    #[schema(schema_with = schemas::service_code)]
    pub code: String,
    #[schema(max_length = 200)]
    pub name: String,
    #[schema(max_length = 2000)]
    pub description: String,
    /// `residents`, `businesses` or `residents_and_businesses`.
    #[schema(max_length = 50)]
    pub audience: String,
    pub fee_pence: i32,
    /// Calendar days from submission to the expected decision.
    pub target_decision_days: i32,
    /// For licences that run a fixed time from issue.
    pub licence_validity_months: Option<i32>,
    #[schema(max_length = 500)]
    pub legal_basis: String,
    /// JSON Schema (2020-12) of this service's `details`.
    pub details_schema: serde_json::Value,
    /// A valid `details`, dates relative to today.
    pub details_example: serde_json::Value,
    /// The documents an application must carry before it can be approved (attach them with
    /// `POST /api/v1/applications/{id}/attachments`).
    #[schema(max_items = 4)]
    pub required_attachments: Vec<AttachmentKind>,
}

#[derive(Serialize, ToSchema)]
pub struct ServiceList {
    // ServiceKind::ALL
    #[schema(max_items = 4)]
    pub items: Vec<ServiceView>,
}

/// One step of an application's history, as the applicant sees it.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub from: Option<Status>,
    pub to: Status,
    /// `resident`, `staff`, `admin` or `system`.
    #[schema(max_length = 20)]
    pub actor_role: String,
    #[schema(max_length = 2000)]
    pub public_note: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        EventView {
            from: e.from_status,
            to: e.to_status,
            actor_role: e.actor_role,
            public_note: e.public_note,
            occurred_at: e.occurred_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApplicationRequest {
    /// A service `code` from the catalogue.
    #[schema(schema_with = crate::http::schemas::service_code)]
    pub service: String,
    /// The service's details: see its `details_schema` in the catalogue.
    #[schema(schema_with = crate::http::schemas::details)]
    pub details: serde_json::Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDetails {
    #[schema(schema_with = crate::http::schemas::details)]
    pub details: serde_json::Value,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<Status>,
    #[param(schema_with = crate::http::schemas::service_filter)]
    pub service: Option<String>,
    #[param(schema_with = crate::http::schemas::cursor)]
    pub cursor: Option<String>,
    #[param(schema_with = crate::http::schemas::limit)]
    pub limit: Option<i64>,
}

fn service_view(service: &Service, state: &AppState) -> Option<ServiceView> {
    let kind = ServiceKind::from_code(&service.code)?;
    let today = uk_today(Utc::now());
    Some(ServiceView {
        details_schema: kind.details_schema(),
        details_example: kind.details_example(&state.settings.services, today),
        required_attachments: kind.required_attachments().to_vec(),
        code: service.code.clone(),
        name: service.name.clone(),
        description: service.description.clone(),
        audience: service.audience.clone(),
        fee_pence: service.fee_pence,
        target_decision_days: service.target_decision_days,
        licence_validity_months: service.licence_validity_months,
        legal_basis: service.legal_basis.clone(),
    })
}

/// The services residents and businesses can apply for, with the schema of each one's details.
#[utoipa::path(tag = "services", responses((status = 200, body = ServiceList)))]
#[get("/api/v1/services")]
pub async fn list_services(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let items = state
        .catalogue
        .all()
        .iter()
        .filter_map(|s| service_view(s, &state))
        .collect();
    Ok(HttpResponse::Ok().json(ServiceList { items }))
}

/// One service.
#[utoipa::path(tag = "services", params(("code" = String, Path, max_length = 32, pattern = "^[a-z-]+$", example = "skip-permit")), responses((status = 200, body = ServiceView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/services/{code}")]
pub async fn get_service(
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let service = state.catalogue.find(&code).ok_or(ApiError::NotFound)?;
    let view = service_view(service, &state).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view))
}

/// Applies for a service. With an `Idempotency-Key` header, a retry returns the first response
/// and creates nothing new.
#[utoipa::path(
    tag = "applications",
    security(("bearer" = [])),
    request_body = NewApplicationRequest,
    params(("Idempotency-Key" = Option<String>, Header, max_length = 255, pattern = "^[!-~]+$", description = "Makes retries safe: 1–255 visible ASCII characters")),
    responses(
        (status = 201, body = ApplicationView),
        (status = 409, description = "The Idempotency-Key was used for a different request", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/applications")]
pub async fn submit_application(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
    Json(body): Json<NewApplicationRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let service = state
        .catalogue
        .find(&body.service)
        .filter(|s| ServiceKind::from_code(&s.code).is_some())
        .ok_or_else(|| {
            ApiError::invalid("service", "is not a service we offer; see /api/v1/services")
        })?;
    let kind = ServiceKind::from_code(&service.code).ok_or(ApiError::NotFound)?;
    let details =
        kind.parse_details(body.details, &state.settings.services, uk_today(Utc::now()))?;
    let mut conn = state.pool.get().await?;
    let answer = applications::submit(
        &mut conn,
        &caller.actor(),
        caller.account_id,
        service,
        &details,
        key.as_deref(),
        |application| serde_json::to_value(ApplicationView::from(application)),
    )
    .await
    .map_err(|e| match e {
        Error::Erased => ApiError::Unauthorized("this account has been erased"),
        other => other.into(),
    })?;
    let (status, view) = (answer.status, answer.body);
    let location = format!(
        "/api/v1/applications/{}",
        view["id"].as_str().unwrap_or_default()
    );
    Ok(HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status as u16)
            .unwrap_or(actix_web::http::StatusCode::CREATED),
    )
    .insert_header((header::LOCATION, location))
    .json(view))
}

/// A `service` filter: a code from the catalogue (400 otherwise, as the document's enum says).
pub(crate) fn service_filter(service: Option<&str>) -> Result<Option<String>, ApiError> {
    match service {
        Some(code) if ServiceKind::from_code(code).is_none() => Err(ApiError::MalformedRequest(
            "service must be a service code from the catalogue".into(),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

/// The caller's applications, newest first. A page is rendered once per change to the caller's
/// applications: while the account's `applications_version` (read live with the session check)
/// is unchanged, this instance answers with the page it rendered at that version.
#[utoipa::path(tag = "applications", security(("bearer" = [])), params(ListQuery), responses((status = 200, body = Page<ApplicationView>)))]
#[get("/api/v1/applications")]
pub async fn list_applications(
    state: web::Data<AppState>,
    reader: CheckedRead,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = pagination::parse(query.limit, query.cursor.as_deref())?;
    let status = query.status.map(|s| s.as_str().to_owned());
    let service = service_filter(query.service.as_deref())?;
    let listing = match reader.check_listing().await {
        Ok(listing) => listing,
        Err(refused) => {
            // Signed out, revoked or erased: nothing of the account's list is shown again.
            state.lists.forget(reader.claimed_account());
            return Err(refused);
        }
    };
    let (caller, version) = (&listing.caller, listing.applications_version);
    // Everything the page depends on besides the account (the cursor as given: it is the page's
    // position).
    let key = format!(
        "{status:?}|{service:?}|{limit}|{:?}",
        query.cursor.as_deref()
    );
    if let Some(page) = state.lists.get(caller.account_id, &key, version) {
        return Ok(HttpResponse::Ok()
            .content_type(mime::APPLICATION_JSON)
            .body(page));
    }
    let filters = |account| Filters {
        account_id: Some(account),
        status,
        service,
        ..Filters::default()
    };
    let rows = listing
        .read(async |conn, account| store::page(conn, &filters(account), after, limit).await)
        .await?;
    let page = serde_json::to_vec(&pagination::page(
        rows,
        limit,
        Application::position,
        ApplicationView::from,
    ))
    .map_err(anyhow::Error::from)?;
    let page = bytes::Bytes::from(page);
    state
        .lists
        .put(caller.account_id, key, version, page.clone());
    Ok(HttpResponse::Ok()
        .content_type(mime::APPLICATION_JSON)
        .body(page))
}

/// Loads one of the caller's applications; anyone else's is 404.
async fn own(
    conn: &mut AsyncPgConnection,
    caller: &Authenticated,
    id: Uuid,
) -> Result<Application, ApiError> {
    store::find(conn, ApplicationId(id), false)
        .await?
        .filter(|a| a.account_id == Some(caller.account_id))
        .ok_or(ApiError::NotFound)
}

/// One of the caller's applications.
#[utoipa::path(tag = "applications", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 200, body = ApplicationView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/applications/{id}")]
pub async fn get_application(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let application = own(&mut conn, &caller, *id).await?;
    Ok(HttpResponse::Ok().json(ApplicationView::from(application)))
}

/// The status history of one of the caller's applications, oldest first, with the council's
/// public notes.
#[utoipa::path(tag = "applications", security(("bearer" = [])), params(("id" = Uuid, Path), IdPageQuery), responses((status = 200, body = Page<EventView>), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/applications/{id}/events")]
pub async fn application_events(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    query: web::Query<IdPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let (limit, after) = pagination::parse_id_cursor(query.limit, query.cursor.as_deref())?;
    let application = own(&mut conn, &caller, *id).await?;
    let rows = store::events_page(&mut conn, application.id, after, limit).await?;
    Ok(HttpResponse::Ok().json(pagination::page_with(
        rows,
        limit,
        |e| pagination::encode_id(e.id),
        EventView::from,
    )))
}

/// Withdraws one of the caller's applications; allowed until it is decided (else 409).
#[utoipa::path(tag = "applications", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 200, body = ApplicationView), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")))]
#[post("/api/v1/applications/{id}/withdraw")]
pub async fn withdraw_application(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let actor = caller.actor();
    let request = Move {
        to: Status::Withdrawn,
        mover: Mover::Applicant,
        actor: &actor,
        public_note: None,
        internal_note: None,
        details: None,
        owner: Some(caller.account_id),
    };
    let mut conn = state.pool.get().await?;
    let application = applications::transition(&mut conn, ApplicationId(*id), request).await?;
    Ok(HttpResponse::Ok().json(ApplicationView::from(application)))
}

/// Replaces the details of one of the caller's applications while the council is waiting for
/// more information; this returns it to `submitted`. At any other time: 409.
#[utoipa::path(tag = "applications", security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = UpdateDetails, responses((status = 200, body = ApplicationView), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[patch("/api/v1/applications/{id}")]
pub async fn update_application(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
    Json(body): Json<UpdateDetails>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let current = own(&mut conn, &caller, *id).await?;
    if current.status != Status::MoreInformationRequired {
        return Err(ApiError::Conflict(format!(
            "details can only be changed while the council is waiting for more information (the application is {})",
            current.status
        )));
    }
    let kind = ServiceKind::from_code(&current.service_code).ok_or_else(|| {
        ValidationErrors::single("details", "this service no longer takes changes")
    })?;
    let details =
        kind.parse_details(body.details, &state.settings.services, uk_today(Utc::now()))?;
    let actor = caller.actor();
    let request = Move {
        to: Status::Submitted,
        mover: Mover::Applicant,
        actor: &actor,
        public_note: None,
        internal_note: None,
        details: Some(&details),
        owner: Some(caller.account_id),
    };
    let application = applications::transition(&mut conn, ApplicationId(*id), request).await?;
    Ok(HttpResponse::Ok().json(ApplicationView::from(application)))
}
