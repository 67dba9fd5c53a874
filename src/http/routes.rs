//! Every path of the API, in one place.
//!
//! Register handlers with `.service(handler)` only: that is how each route lands in the OpenAPI
//! document (`utoipa_actix_web` collects the handler's `#[utoipa::path]`); `.route()` would serve a
//! path the document does not list.

use actix_web::App;
use actix_web::dev::{ServiceFactory, ServiceRequest};
use utoipa::OpenApi;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, UtoipaApp};

use crate::http::handlers::{
    accounts, admin, admin_applications, admin_data, applications, data_rights, docs, health, me,
    sessions,
};
use crate::http::openapi::ApiDoc;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health::health)
        .service(health::ready)
        .service(docs::openapi_json)
        .service(docs::docs)
        // Accounts and sessions
        .service(accounts::sign_up)
        .service(accounts::verify_email)
        .service(accounts::request_password_reset)
        .service(accounts::confirm_password_reset)
        .service(sessions::sign_in)
        .service(sessions::refresh_session)
        .service(sessions::sign_out)
        .service(me::get_me)
        .service(me::update_me)
        .service(me::change_email)
        .service(me::get_preferences)
        .service(me::put_preferences)
        .service(me::list_sessions)
        .service(me::revoke_session)
        // Services and applications
        .service(applications::list_services)
        .service(applications::get_service)
        .service(applications::submit)
        .service(applications::list)
        .service(applications::get)
        .service(applications::events)
        .service(applications::withdraw)
        .service(applications::update)
        // Data-subject rights
        .service(data_rights::create)
        .service(data_rights::list)
        .service(data_rights::get)
        .service(data_rights::export)
        // Council staff
        .service(admin_applications::queue)
        .service(admin_applications::detail)
        .service(admin_applications::transition)
        .service(admin_applications::assign)
        .service(admin_data::queue)
        .service(admin_data::decide)
        .service(admin_data::lookup)
        .service(admin_data::audit_events)
        .service(admin::create);
}

/// Wraps an `App` so that routes registered through it are collected into the OpenAPI document.
pub fn documented<T>(app: App<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
}

/// The complete OpenAPI document, without starting a server (for `mynorfolk openapi`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    documented(App::new()).split_for_parts().1
}
