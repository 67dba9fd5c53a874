//! Sign-up, email verification and password reset: the endpoints used before signing in.
//! Answers never reveal whether an address has an account.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::account::{EmailAddress, NewAccount, Password};
use crate::domain::validation::ValidationErrors;
use crate::http::ApiError;
use crate::http::auth::request_id;
use crate::http::error::Problem;
use crate::http::extract::Json;
use crate::http::schemas;
use crate::http::throttle::{PasswordReset, SignUp, limited};
use crate::state::AppState;
use crate::use_cases::accounts;
use actix_web::middleware::from_fn;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpRequest {
    /// How the resident wants to be addressed (1–100 characters, any script, with a letter).
    #[schema(schema_with = schemas::account_name)]
    pub name: String,
    #[schema(schema_with = schemas::email)]
    pub email: String,
    #[schema(schema_with = schemas::new_password)]
    pub password: String,
    /// Must be `true`: the account is opened under the contract of the current terms.
    #[schema(schema_with = schemas::must_be_true)]
    pub accept_terms: bool,
}

/// The same answer whatever happened, so no one can learn which addresses have accounts.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    #[schema(example = "accepted")]
    #[schema(max_length = 20)]
    pub status: &'static str,
    #[schema(max_length = 200)]
    pub detail: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token from the emailed link.
    #[schema(schema_with = schemas::opaque_token)]
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Done {
    #[schema(example = "ok")]
    #[schema(max_length = 20)]
    pub status: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    #[schema(schema_with = schemas::email)]
    pub email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    #[schema(schema_with = schemas::opaque_token)]
    pub token: String,
    #[schema(schema_with = schemas::new_password)]
    pub new_password: String,
}

const SIGN_UP_ACCEPTED: Accepted = Accepted {
    status: "accepted",
    detail: "We have sent an email to this address. Follow the link in it to continue.",
};

const RESET_ACCEPTED: Accepted = Accepted {
    status: "accepted",
    detail: "If this address has an account, we have sent it a link to reset the password.",
};

/// Opens a resident account (name and email only, under the lawful basis *contract*).
///
/// Always 202 with the same body. A new address gets a verification email; an address that
/// already has an account gets a "you already have an account" email instead.
#[utoipa::path(
    tag = "accounts",
    request_body = SignUpRequest,
    responses(
        (status = 202, body = Accepted),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/accounts", wrap = "from_fn(limited::<SignUp>)")]
pub async fn sign_up(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<SignUpRequest>,
) -> Result<HttpResponse, ApiError> {
    let new = NewAccount::parse(&body.name, &body.email, &body.password, body.accept_terms)?;
    // Hashed whether or not the address is taken, so both paths take the same time.
    let hash = state.hasher.hash(new.password.expose()).await?;
    let mut conn = state.pool.get().await?;
    accounts::register(
        &mut conn,
        &state.settings.app,
        request_id(&req),
        &new,
        &hash,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(SIGN_UP_ACCEPTED))
}

/// Confirms an email address from the emailed link: a new account's address, or the new address
/// of an email change (which then takes effect, and the old address is told).
#[utoipa::path(
    tag = "accounts",
    request_body = TokenRequest,
    responses(
        (status = 200, body = Done),
        (status = 409, description = "The new address has been taken by another account meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`link-invalid`: unknown, used or expired token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/accounts/verify")]
pub async fn verify_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    accounts::confirm_email(&mut conn, request_id(&req), &body.token).await?;
    Ok(HttpResponse::Ok().json(Done { status: "ok" }))
}

/// Asks for a password-reset link. Always 202 for a well-formed address, whether or not it has an
/// account.
#[utoipa::path(
    tag = "accounts",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, body = Accepted),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/api/v1/password-resets", wrap = "from_fn(limited::<PasswordReset>)")]
pub async fn request_password_reset(
    state: web::Data<AppState>,
    Json(body): Json<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    // Whether an address is well formed says nothing about whether it has an account.
    let email = EmailAddress::parse(&body.email)
        .map_err(|e| ValidationErrors::single("email", e.to_string()))?;
    // Queued durably, the same way for every address; a worker sends the link (or nothing).
    accounts::request_reset_link(&mut *state.pool.get().await?, &email).await?;
    Ok(HttpResponse::Accepted().json(RESET_ACCEPTED))
}

/// Sets a new password from a reset link. Every session of the account is signed out.
#[utoipa::path(
    tag = "accounts",
    request_body = PasswordResetConfirm,
    responses(
        (status = 200, body = Done),
        (status = 404, description = "`link-invalid`: unknown, used or expired token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The new password is too short, too long or too common", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
#[post(
    "/api/v1/password-resets/confirm",
    wrap = "from_fn(limited::<PasswordReset>)"
)]
pub async fn confirm_password_reset(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<PasswordResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    let password = Password::parse(&body.new_password)
        .map_err(|e| ValidationErrors::single("new_password", e.to_string()))?;
    // An unknown link costs a look-up, not a hash: no one can keep the hashing pool busy.
    accounts::reset_link_is_live(&mut *state.pool.get().await?, &body.token).await?;
    let hash = state.hasher.hash(password.expose()).await?;
    let mut conn = state.pool.get().await?;
    accounts::reset_password(
        &mut conn,
        &state.settings.app,
        request_id(&req),
        &body.token,
        &hash,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Done { status: "ok" }))
}
