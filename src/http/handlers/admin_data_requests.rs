//! Staff work on the data-request queue: reading it (every request shown is an audited read) and
//! deciding requests (complete, refuse, extend).

use crate::domain::text::{NOTE, REQUIRED_REASON, TextError};
use crate::http::schemas;
use actix_web::{HttpResponse, get, post, web};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::db::data_requests::{DataRequest, QueueFilters};
use crate::db::ids::DataRequestId;
use crate::domain::data_request::{RequestKind, RequestStatus};
use crate::domain::deadlines::{MAX_EXTENSION_MONTHS, uk_today};
use crate::http::ApiError;
use crate::http::auth::Staff;
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::http::pagination::{self, Page};
use crate::http::views::DataRequestView;
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

/// The data-request queue, newest first; `overdue=true` for open requests past their deadline.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(DataRequestQuery), responses((status = 200, body = Page<StaffDataRequestView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/admin/data-requests")]
pub async fn data_request_queue(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    query: web::Query<DataRequestQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let (limit, after) = pagination::parse(query.limit, query.cursor.as_deref())?;
    let filters = QueueFilters {
        status: query.status,
        kind: query.kind,
        overdue_on: query.overdue.unwrap_or(false).then(|| uk_today(Utc::now())),
        account_id: None,
    };
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
        DataRequestId(*id),
        decision,
    )
    .await?;
    Ok(HttpResponse::Ok().json(StaffDataRequestView::from(request)))
}
