//! A resident's data rights: requests under UK GDPR and the immediate export of their data.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::data_requests::{self as store, DataRequest};
use crate::db::ids::DataRequestId;
use crate::domain::data_request::{RequestKind, RequestStatus};
use crate::http::ApiError;
use crate::http::auth::Authenticated;
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::http::pagination::{self, Page, PageQuery};
use crate::http::views::{ArchiveBody, DataRequestView};
use crate::state::AppState;
use crate::use_cases::data_rights;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDataRequest {
    #[serde(rename = "type")]
    pub kind: RequestKind,
    /// Anything that helps us (for a rectification: what is wrong and what it should be).
    #[schema(schema_with = crate::http::schemas::note)]
    pub details: Option<String>,
}

/// Makes a request under data-protection law. The answer is due in one calendar month.
#[utoipa::path(
    tag = "data rights",
    security(("bearer" = [])),
    request_body = NewDataRequest,
    responses((status = 202, body = DataRequestView), (status = 422, body = Problem, content_type = "application/problem+json"))
)]
#[post("/api/v1/me/data-requests")]
pub async fn create_data_request(
    state: web::Data<AppState>,
    caller: Authenticated,
    Json(body): Json<NewDataRequest>,
) -> Result<HttpResponse, ApiError> {
    let details = crate::domain::text::NOTE
        .parse_optional(body.details.as_deref())
        .map_err(|e| ApiError::invalid("details", e.to_string()))?;
    let mut conn = state.pool.get().await?;
    let request = data_rights::open(
        &mut conn,
        &state.settings.data_rights,
        &caller.actor(),
        caller.account_id,
        body.kind,
        details.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Accepted().json(DataRequestView::from(request)))
}

/// The caller's requests, newest first.
#[utoipa::path(tag = "data rights", security(("bearer" = [])), params(PageQuery), responses((status = 200, body = Page<DataRequestView>)))]
#[get("/api/v1/me/data-requests")]
pub async fn list_data_requests(
    state: web::Data<AppState>,
    caller: Authenticated,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let (limit, after) = pagination::parse(query.limit, query.cursor.as_deref())?;
    let filters = store::QueueFilters {
        account_id: Some(caller.account_id),
        ..Default::default()
    };
    let rows = store::page(&mut conn, &filters, after, limit).await?;
    Ok(HttpResponse::Ok().json(pagination::page(
        rows,
        limit,
        DataRequest::position,
        DataRequestView::from,
    )))
}

/// One of the caller's requests; a completed access request carries the export.
#[utoipa::path(tag = "data rights", security(("bearer" = [])), params(("id" = Uuid, Path)), responses((status = 200, body = DataRequestView), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[get("/api/v1/me/data-requests/{id}")]
pub async fn get_data_request(
    state: web::Data<AppState>,
    caller: Authenticated,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let request = store::find(&mut conn, DataRequestId(*id), false)
        .await?
        .filter(|r| r.account_id == caller.account_id)
        .ok_or(ApiError::NotFound)?;
    let fulfilled_access =
        request.kind == RequestKind::Access && request.status == RequestStatus::Completed;
    let mut view = DataRequestView::from(request);
    if fulfilled_access {
        view.export = Some(
            data_rights::export(
                &mut conn,
                &caller.actor(),
                caller.account_id,
                &state.settings.retention,
            )
            .await?,
        );
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Everything held about the caller, at once: as JSON (every table that holds their data, plus
/// the purposes, lawful basis, recipients, retention periods and source, Article 15), or, with
/// `Accept: application/zip`, a zip of that JSON (`export.json`) and every attached file.
#[utoipa::path(
    tag = "data rights",
    security(("bearer" = [])),
    responses((status = 200, description = "The export: JSON, or a zip archive when asked for with `Accept: application/zip`", content(
        (serde_json::Value = "application/json"),
        (ArchiveBody = "application/zip"),
    )))
)]
#[get("/api/v1/me/export")]
pub async fn export_my_data(
    state: web::Data<AppState>,
    caller: Authenticated,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let actor = caller.actor();
    let periods = &state.settings.retention;
    if !wants_zip(&req) {
        let document = data_rights::export(&mut conn, &actor, caller.account_id, periods).await?;
        return Ok(HttpResponse::Ok()
            .insert_header((actix_web::http::header::VARY, "Accept"))
            .insert_header((
                "content-disposition",
                "attachment; filename=\"mynorfolk-data.json\"",
            ))
            .json(document));
    }
    let (document, files) =
        data_rights::export_with_files(&mut conn, &actor, caller.account_id, periods).await?;
    // The connection goes back before the files are read (possibly for a long while).
    drop(conn);
    let archive = data_rights::export_archive(&state.files, &document, &files).await?;
    let size = archive
        .metadata()
        .map_err(|e| ApiError::Internal(e.into()))?
        .len();
    let body = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(archive));
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((actix_web::http::header::VARY, "Accept"))
        .insert_header((
            "content-disposition",
            "attachment; filename=\"mynorfolk-data.zip\"",
        ))
        .no_chunking(size)
        .streaming(body))
}

/// Whether the caller prefers the zip archive to JSON (`Accept: application/zip`; a media type
/// at `q=0` is refused, not asked for).
fn wants_zip(req: &HttpRequest) -> bool {
    use actix_web::HttpMessage;
    let Some(accept) = req.get_header::<actix_web::http::header::Accept>() else {
        return false;
    };
    let quality = |essence: &str| {
        accept
            .iter()
            .filter(|item| item.item.essence_str() == essence)
            .map(|item| item.quality)
            .max()
    };
    let zip = quality("application/zip").filter(|q| *q > actix_web::http::header::Quality::ZERO);
    zip.is_some_and(|zip| quality("application/json").is_none_or(|json| zip >= json))
}
