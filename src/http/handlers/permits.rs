//! Issued permits: the holder downloads the PDF; anyone holding it checks it by its code.

use actix_web::{HttpResponse, get, web};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::db::ids::ApplicationId;
use crate::domain::application::Status;
use crate::http::ApiError;
use crate::http::auth::Authenticated;
use crate::http::error::Problem;
use crate::http::schemas;
use crate::http::views::FileBody;
use crate::permit_pdf;
use crate::state::AppState;
use crate::use_cases::permits;

/// The permit of one of your applications, once it is issued: a PDF with the reference, service,
/// site, dates, conditions and the verification code an officer checks it with.
#[utoipa::path(
    tag = "permits",
    security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, description = "The permit", content((FileBody = "application/pdf"))),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The application has not been issued", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/applications/{id}/permit")]
pub async fn download_permit(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let permit = permits::document(
        &mut *state.pool.get().await?,
        &state.signer,
        &state.settings.app.public_url,
        caller.account_id,
        ApplicationId(*id),
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"permit-{}.pdf\"", permit.reference),
        ))
        .body(permit_pdf::render(&permit)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    /// The verification code printed on the permit.
    pub code: String,
}

impl IntoParams for CheckQuery {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![schemas::required_query(
            "code",
            "The verification code printed on the permit",
            schemas::permit_code(),
        )]
    }
}

/// What checking a permit shows: no personal data.
#[derive(Serialize, ToSchema)]
pub struct PermitCheckView {
    #[schema(schema_with = schemas::reference)]
    pub reference: String,
    #[schema(schema_with = schemas::service_code)]
    pub service: String,
    /// `issued` while in force; `closed` once it has ended.
    pub status: Status,
    pub valid_from: NaiveDate,
    /// `null` for a permit that runs until its works are done.
    pub valid_to: Option<NaiveDate>,
    /// The site's postcode; `null` once the holder's data has been erased.
    #[schema(max_length = 8, example = "NR2 1NH")]
    pub site_postcode: Option<String>,
}

/// Checks a permit on the street: its reference and the code printed on it. A wrong code, an
/// unknown reference and a permit never issued are all 404.
#[utoipa::path(
    tag = "permits",
    params(("reference" = String, Path, max_length = 24, pattern = "^[A-Z]{3}-[0-9]{4}-[0-9]{6,12}$"), CheckQuery),
    responses(
        (status = 200, body = PermitCheckView),
        (status = 404, description = "No issued permit has this reference and code", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/api/v1/permits/{reference}")]
pub async fn check_permit(
    state: web::Data<AppState>,
    reference: web::Path<String>,
    query: web::Query<CheckQuery>,
) -> Result<HttpResponse, ApiError> {
    let found = permits::check(
        &mut *state.pool.get().await?,
        &state.signer,
        &reference,
        &query.code,
    )
    .await?;
    Ok(HttpResponse::Ok().json(PermitCheckView {
        reference: found.reference,
        service: found.service,
        status: found.status,
        valid_from: found.valid_from,
        valid_to: found.valid_to,
        site_postcode: found.site_postcode,
    }))
}
