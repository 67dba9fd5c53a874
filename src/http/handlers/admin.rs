//! Council staff administration. Every handler here takes `Staff` or `Admin`, so a resident's
//! token gets 403.

use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::account::{AccountName, EmailAddress, Role};
use crate::domain::validation::ValidationErrors;
use crate::http::ApiError;
use crate::http::auth::Admin;
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::state::AppState;
use crate::use_cases::accounts::create_staff;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    #[schema(schema_with = crate::http::schemas::account_name)]
    pub name: String,
    #[schema(schema_with = crate::http::schemas::email)]
    pub email: String,
    #[schema(schema_with = crate::http::schemas::staff_role)]
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct StaffCreated {
    pub id: Uuid,
    #[schema(min_items = 1, max_items = 1)]
    pub roles: Vec<Role>,
}

/// Creates a staff or admin account (admins only). The new colleague is emailed a link to choose
/// their password; no password travels through this API.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    request_body = NewStaff,
    responses(
        (status = 201, body = StaffCreated),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The address already has an account", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/admin/staff")]
pub async fn create_staff_account(
    state: web::Data<AppState>,
    Admin(caller): Admin,
    Json(body): Json<NewStaff>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = ValidationErrors::default();
    let name = errors.check("name", AccountName::parse(&body.name));
    let email = errors.check("email", EmailAddress::parse(&body.email));
    if body.role == Role::Resident {
        errors.add("role", "must be staff or admin");
    }
    let (Some(name), Some(email), true) = (name, email, errors.is_empty()) else {
        return Err(errors.into());
    };
    let mut conn = state.pool.get().await?;
    let id = create_staff(
        &mut conn,
        &state.settings.app,
        &caller.actor(),
        &name,
        &email,
        body.role,
        None,
    )
    .await?;
    Ok(HttpResponse::Created().json(StaffCreated {
        id: id.into(),
        roles: vec![body.role],
    }))
}
