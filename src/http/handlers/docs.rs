//! The machine-readable contract (`/openapi.json`) and the human-readable page (`/docs`, the
//! Swagger UI bundle compiled into the binary, so it works with no network).

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

/// The OpenAPI document, serialised once at start-up.
pub struct OpenApiJson(pub String);

/// The OpenAPI 3.1 document of this API, generated from the code.
#[utoipa::path(
    tag = "operational",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json"))
)]
#[get("/openapi.json")]
pub async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

/// Human-readable API documentation (redirects to the Swagger UI page at `/docs/`).
#[utoipa::path(
    tag = "operational",
    responses((status = 308, description = "Redirect to the documentation page at /docs/"))
)]
#[get("/docs")]
pub async fn docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}
