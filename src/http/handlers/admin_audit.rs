//! Staff look-ups of personal data: an account by email address, and the audit log. Each look is
//! itself audited, with the reason given.

use std::sync::LazyLock;

use crate::domain::text::ACCESS_REASON;
use crate::http::schemas;
use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Datelike, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::db::audit::{self, Stored};
use crate::db::ids::AccountId;
use crate::domain::account::EmailAddress;
use crate::http::ApiError;
use crate::http::auth::Staff;
use crate::http::error::Problem;
use crate::http::pagination::{self, Page};
use crate::http::views::Me;
use crate::state::AppState;
use crate::use_cases::staff_reads;

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
        vec![
            schemas::required_query("email", "The account's email address", schemas::email()),
            schemas::required_query(
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

/// Looks an account up by email address. The look-up, and its reason, are audited.
#[utoipa::path(tag = "admin", security(("bearer" = [])), params(AccountLookup), responses((status = 200, body = Me), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 422, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/admin/accounts")]
pub async fn look_up_account(
    state: web::Data<AppState>,
    Staff(caller): Staff,
    query: web::Query<AccountLookup>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let reason = ACCESS_REASON
        .parse(&query.reason)
        .map_err(|e| ApiError::invalid("reason", format!("{e}: say why you need this account")))?
        .unwrap_or_default();
    let email =
        EmailAddress::parse(&query.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
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
    let mut conn = state.pool.get().await?;
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
    let rows =
        staff_reads::audit_log(&mut conn, &caller.actor(), &filters, before_id, limit).await?;
    Ok(HttpResponse::Ok().json(pagination::page_with(
        rows,
        limit,
        |e| pagination::encode_id(e.id),
        AuditEventView::from,
    )))
}
