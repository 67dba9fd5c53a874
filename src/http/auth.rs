//! Authentication as extractors: a handler that takes `Authenticated` cannot be reached without
//! a valid access token of a live session; `Staff` and `Admin` add the role check (403).
//! Denied by default — there is no list of paths to skip.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use tracing_actix_web::RequestId;

use crate::db::ids::{AccountId, SessionId};

use crate::db::audit::Actor;
use crate::domain::account::Role;
use crate::http::ApiError;
use crate::state::AppState;

/// The signed-in caller.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account_id: AccountId,
    pub session_id: SessionId,
    pub role: Role,
    pub request_id: Option<String>,
}

impl Authenticated {
    /// The caller as the audit log records them.
    pub fn actor(&self) -> Actor {
        Actor {
            id: Some(self.account_id),
            role: self.role.as_str(),
            request_id: self.request_id.clone(),
        }
    }
}

/// A caller with the `staff` or `admin` role.
#[derive(Debug, Clone)]
pub struct Staff(pub Authenticated);

/// A caller with the `admin` role.
#[derive(Debug, Clone)]
pub struct Admin(pub Authenticated);

/// The request id, for audit rows written by requests without a signed-in caller.
pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|id| id.to_string())
}

/// Every `/api/v1/admin/` path is for staff: a missing or bad token is 401 and a resident's token
/// 403 before any handler runs, whatever the request's body or query (which a handler's own
/// extractors might otherwise reject first).
pub async fn admin_gate(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    if req.path().starts_with("/api/v1/admin/") {
        match Staff::from_request(req.request(), &mut Payload::None).await {
            Ok(Staff(caller)) => {
                req.extensions_mut().insert(caller);
            }
            Err(error) => return Ok(req.error_response(error).map_into_right_body()),
        }
    }
    next.call(req)
        .await
        .map(actix_web::dev::ServiceResponse::map_into_left_body)
}

const INVALID_TOKEN: ApiError =
    ApiError::Unauthorized("the access token is invalid, expired or signed out");

type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Already checked by the admin gate for this request: no second session lookup.
        if let Some(caller) = req.extensions().get::<Authenticated>().cloned() {
            return Box::pin(async move { Ok(caller) });
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let bearer = bearer_token(req);
        let request_id = request_id(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let claims = state.jwt.verify(&bearer?).ok_or(INVALID_TOKEN)?;
            // The role is the account's as stored now, never the token's claim.
            let live = state
                .session_checks
                .check(SessionId(claims.sid), AccountId(claims.sub))
                .await?
                .ok_or(INVALID_TOKEN)?;
            Ok(Authenticated {
                account_id: live.account,
                session_id: live.session,
                role: live.role,
                request_id,
            })
        })
    }
}

/// A resident's read whose session check comes with the account's `applications_version`:
/// `check_listing` runs the live session check and answers the `Listing` that can read, so an
/// invalid token gets a 401 and nothing else. The token's signature is checked first, when the
/// request is extracted.
pub struct CheckedRead {
    account_id: AccountId,
    session_id: SessionId,
    request_id: Option<String>,
    state: web::Data<AppState>,
}

impl FromRequest for CheckedRead {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        let request_id = request_id(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no app state")))?;
            let claims = state.jwt.verify(&token?).ok_or(INVALID_TOKEN)?;
            Ok(CheckedRead {
                account_id: AccountId(claims.sub),
                session_id: SessionId(claims.sid),
                request_id,
                state,
            })
        })
    }
}

impl CheckedRead {
    /// The caller's account, as the token names it (not yet checked).
    pub fn claimed_account(&self) -> AccountId {
        self.account_id
    }

    /// The live session check, with the account's `applications_version`; only what it answers
    /// can read.
    pub async fn check_listing(&self) -> Result<Listing<'_>, ApiError> {
        let live = self
            .state
            .session_checks
            .check(self.session_id, self.account_id)
            .await?
            .ok_or(INVALID_TOKEN)?;
        Ok(Listing {
            caller: Authenticated {
                account_id: live.account,
                session_id: live.session,
                role: live.role,
                request_id: self.request_id.clone(),
            },
            applications_version: live.applications_version,
            pool: &self.state.pool,
        })
    }
}

/// A caller whose session `CheckedRead::check_listing` found live.
pub struct Listing<'s> {
    pub caller: Authenticated,
    pub applications_version: i64,
    pool: &'s crate::db::DbPool,
}

impl Listing<'_> {
    /// Runs `read` on a connection of the pool, for the caller's account.
    pub async fn read<T>(
        &self,
        read: impl AsyncFnOnce(&diesel_async::AsyncPgConnection, AccountId) -> diesel::QueryResult<T>,
    ) -> Result<T, ApiError> {
        let conn = self.pool.get().await?;
        Ok(read(&conn, self.caller.account_id).await?)
    }
}

/// The bearer token of the request, or the 401 that says how to send one.
fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
        .ok_or(ApiError::Unauthorized(
            "sign in: send an access token as `Authorization: Bearer <token>`",
        ))
}

fn require(
    role_ok: fn(Role) -> bool,
    req: &HttpRequest,
    payload: &mut Payload,
) -> Extracting<Authenticated> {
    let authenticated = Authenticated::from_request(req, payload);
    Box::pin(async move {
        let caller = authenticated.await?;
        if role_ok(caller.role) {
            Ok(caller)
        } else {
            Err(ApiError::Forbidden {
                code: "forbidden",
                detail: "your account is not allowed to do this".into(),
            })
        }
    })
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = require(Role::is_staff, req, payload);
        Box::pin(async move { caller.await.map(Staff) })
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = require(|r| r == Role::Admin, req, payload);
        Box::pin(async move { caller.await.map(Admin) })
    }
}
