//! Staff work on personal data: the data-request queue and its decisions, account look-up, and
//! the audit log. Every look at someone's data is itself audited, with the reason given.

use std::sync::LazyLock;

use crate::domain::text::{ACCESS_REASON, NOTE, REQUIRED_REASON, TextError};
use crate::http::schemas;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::data_rights::DataRequestView;
use super::me::Me;
use crate::db::audit::{self, Stored};
use crate::db::data_requests::{DataRequest, QueueFilters};
use crate::db::ids::AccountId;
use crate::domain::account::EmailAddress;
use crate::domain::data_request::{RequestKind, RequestStatus};
use crate::domain::deadlines::{MAX_EXTENSION_MONTHS, uk_today};
use crate::http::ApiError;
use crate::http::auth::Staff;
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::http::pagination::{self, Page};
use crate::state::AppState;
use crate::use_cases::data_rights::{self, Decision};
use crate::use_cases::staff_reads;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DataRequestQuery {
    #[param(value_type = Option<RequestStatus>)]
    pub status: Option<RequestStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<RequestKind>)]
    pub kind: Option<RequestKind>,
    /// Only open requests past their deadline.
    pub overdue: Option<bool>,
    #[param(schema_with = crate::http::schemas::cursor)]
    pub cursor: Option<String>,
    #[param(schema_with = crate::http::schemas::limit)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct StaffDataRequestView {
    #[serde(flatten)]
    pub request: DataRequestView,
    pub account_id: Uuid,
    pub original_due_by: NaiveDate,
    pub overdue: bool,
}

impl From<DataRequest> for StaffDataRequestView {
    fn from(r: DataRequest) -> Self {
        let overdue = r.status.is_open() && r.due_by < uk_today(Utc::now());
        StaffDataRequestView {
            account_id: r.account_id.into(),
            original_due_by: r.original_due_by,
            overdue,
            request: r.into(),
        }
    }
}

/// A decision on a data request. Refusing and extending need a reason; only extending takes
/// `months`.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "decision", rename_all = "snake_case", deny_unknown_fields)]
pub enum DecisionRequest {
    /// Carry the request out (an erasure happens at once).
    Complete {
        /// For an erasure, added to the statement of what was kept.
        #[schema(schema_with = schemas::note)]
        reason: Option<String>,
    },
    Refuse {
        #[schema(schema_with = schemas::required_reason)]
        reason: String,
    },
    /// Extend the deadline by up to two further months.
    Extend {
        #[schema(schema_with = schemas::required_reason)]
        reason: String,
        /// Months beyond the first (default 2).
        #[schema(schema_with = schemas::extension_months)]
        #[serde(default, deserialize_with = "crate::http::extract::optional_whole_u32")]
        months: Option<u32>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountLookup {
    pub email: String,
    /// Why you are looking (recorded in the audit log).
    pub reason: String,
}

/// By hand: utoipa's derive drops `required` from a parameter whose schema is `schema_with`.
impl IntoParams for AccountLookup {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        let required = |name: &str, description: &str, schema| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(utoipa::openapi::Required::True)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        };
        vec![
            required("email", "The account's email address", schemas::email()),
            required(
                "reason",
                "Why you are looking (recorded in the audit log)",
                schemas::access_reason(),
            ),
        ]
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Events about this person's data.
    pub account_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    #[param(schema_with = crate::http::schemas::audit_action_filter)]
    pub action: Option<String>,
    #[param(schema_with = crate::http::schemas::time_filter)]
    pub from: Option<DateTime<Utc>>,
    #[param(schema_with = crate::http::schemas::time_filter)]
    pub to: Option<DateTime<Utc>>,
    #[param(schema_with = crate::http::schemas::id_cursor)]
    pub cursor: Option<String>,
    #[param(schema_with = crate::http::schemas::limit)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    #[schema(max_length = 20)]
    pub actor_role: String,
    #[schema(max_length = 64)]
    pub action: String,
    #[schema(max_length = 50)]
    pub target_type: String,
    pub target_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    #[schema(max_length = 64)]
    pub request_id: Option<String>,
}

impl From<Stored> for AuditEventView {
    fn from(e: Stored) -> Self {
        AuditEventView {
            id: e.id,
            occurred_at: e.occurred_at,
            actor_id: e.actor_id.map(Uuid::from),
            actor_role: e.actor_role,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            account_id: e.subject_id.map(Uuid::from),
            reason: e.reason,
            request_id: e.request_id,
        }
    }
}

/// The data-request queue, newest first; `overdue=true` for open requests past their deadline.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(DataRequestQuery), responses((status = 200, body = Page<StaffDataRequestView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/admin/data-requests")]
pub async fn data_request_queue(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    query: web::Query<DataRequestQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, after) = pagination::parse(query.limit, query.cursor.as_deref())?;
    let filters = QueueFilters {
        status: query.status,
        kind: query.kind,
        overdue_on: query.overdue.unwrap_or(false).then(|| uk_today(Utc::now())),
        account_id: None,
    };
    let mut conn = state.pool.get().await?;
    let rows =
        staff_reads::data_request_queue(&mut conn, &caller.actor(), &filters, after, limit).await?;
    Ok(HttpResponse::Ok().json(pagination::page(
        rows,
        limit,
        DataRequest::position,
        StaffDataRequestView::from,
    )))
}

/// Decides a request: `complete` (an erasure is carried out at once), `refuse` (reason required)
/// or `extend` (reason required; up to two further months). The resident is emailed.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = DecisionRequest,
    responses(
        (status = 200, body = StaffDataRequestView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, already extended that far, or the person has been erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/data-requests/{id}/decisions")]
pub async fn decide_data_request(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    id: web::Path<Uuid>,
    Json(body): Json<DecisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let invalid = |e: TextError| ApiError::invalid("reason", e.to_string());
    let required = |raw: &str| {
        REQUIRED_REASON
            .parse(raw)
            .map_err(invalid)?
            .ok_or_else(|| ApiError::invalid("reason", "is required for this decision"))
    };
    let decision = match body {
        DecisionRequest::Complete { reason } => Decision::Complete {
            reason: NOTE.parse_optional(reason.as_deref()).map_err(invalid)?,
        },
        DecisionRequest::Refuse { reason } => Decision::Refuse {
            reason: required(&reason)?,
        },
        DecisionRequest::Extend { reason, months } => Decision::Extend {
            months: months.unwrap_or(MAX_EXTENSION_MONTHS),
            reason: required(&reason)?,
        },
    };
    let mut conn = state.pool.get().await?;
    let request = data_rights::decide(
        &mut conn,
        &state.settings.data_rights,
        &caller.actor(),
        *id,
        decision,
    )
    .await?;
    Ok(HttpResponse::Ok().json(StaffDataRequestView::from(request)))
}

/// Looks an account up by email address. The look-up, and its reason, are audited.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(AccountLookup), responses((status = 200, body = Me), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/admin/accounts")]
pub async fn look_up_account(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    query: web::Query<AccountLookup>,
) -> Result<HttpResponse, ApiError> {
    let reason = ACCESS_REASON
        .parse(&query.reason)
        .map_err(|e| ApiError::invalid("reason", format!("{e}: say why you need this account")))?
        .unwrap_or_default();
    let email =
        EmailAddress::parse(&query.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    let mut conn = state.pool.get().await?;
    let account =
        staff_reads::account_by_email(&mut conn, &caller.actor(), &email, &reason).await?;
    Ok(HttpResponse::Ok().json(Me::from_account(account)))
}

/// The audit log, newest first, filtered by person (`account_id`), actor, action and time.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(AuditQuery), responses((status = 200, body = Page<AuditEventView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/admin/audit-events")]
pub async fn list_audit_events(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, before_id) = pagination::parse_id_cursor(query.limit, query.cursor.as_deref())?;
    for (field, time) in [("from", query.from), ("to", query.to)] {
        if let Some(time) = time {
            pagination::check_year(field, time.year())?;
        }
    }
    static ACTION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(schemas::AUDIT_ACTION_PATTERN).expect("valid"));
    if let Some(action) = query.action.as_deref()
        && (action.len() > schemas::AUDIT_ACTION_MAX_CHARS || !ACTION.is_match(action))
    {
        return Err(ApiError::MalformedRequest(
            "action must be an audit action such as account.looked_up".into(),
        ));
    }
    let filters = audit::Filters {
        subject_id: query.account_id.map(AccountId),
        actor_id: query.actor_id.map(AccountId),
        action: query.action.clone(),
        from: query.from,
        before: query.to,
    };
    let mut conn = state.pool.get().await?;
    let rows =
        staff_reads::audit_log(&mut conn, &caller.actor(), &filters, before_id, limit).await?;
    Ok(HttpResponse::Ok().json(pagination::page_with(
        rows,
        limit,
        |e| pagination::encode_id(e.id),
        AuditEventView::from,
    )))
}
