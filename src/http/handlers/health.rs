//! Liveness and readiness, for load balancers and orchestrators.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::ApiError;
use crate::http::error::Problem;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` for liveness, `ready` when the database answers.
    #[schema(max_length = 20)]
    pub status: &'static str,
}

/// Liveness: the process is up and serving HTTP. Never touches the database.
#[utoipa::path(tag = "operational", responses((status = 200, body = HealthStatus)))]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus { status: "ok" })
}

/// Readiness: 200 when the database answers a query, else 503 (and 200 again once it is back);
/// 503 from the moment the instance is told to stop, so the load balancer sends no more.
#[utoipa::path(
    tag = "operational",
    responses(
        (status = 200, body = HealthStatus),
        (status = 503, description = "The database is unreachable, or the instance is shutting down", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.draining.is_on() {
        return Err(ApiError::Unavailable(anyhow::anyhow!("shutting down")));
    }
    state
        .readiness
        .check()
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(HealthStatus { status: "ready" }))
}
