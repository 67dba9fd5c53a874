//! Every path of the API, in one place.
//!
//! Register handlers with `.service(handler)` only: that is how each route lands in the OpenAPI
//! document (`utoipa_actix_web` collects the handler's `#[utoipa::path]`); `.route()` would serve a
//! path the document does not list.

use actix_web::App;
use actix_web::dev::{ServiceFactory, ServiceRequest};
use utoipa::OpenApi as _;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt, UtoipaApp};

use crate::http::handlers::{
    accounts, admin, admin_applications, admin_audit, admin_data_requests, applications,
    attachments, data_rights, docs, health, me, payments, permits, sessions, unsubscribe,
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
        .service(unsubscribe::unsubscribe)
        .service(me::list_sessions)
        .service(me::revoke_session)
        // Services and applications
        .service(applications::list_services)
        .service(applications::get_service)
        .service(applications::submit_application)
        .service(applications::list_applications)
        .service(applications::get_application)
        .service(applications::application_events)
        .service(applications::withdraw_application)
        .service(applications::update_application)
        // Documents
        .service(attachments::upload_attachment)
        .service(attachments::list_attachments)
        .service(attachments::download_attachment)
        .service(attachments::delete_attachment)
        // Permits
        .service(permits::download_permit)
        .service(permits::check_permit)
        // Fees and payments
        .service(payments::start_payment)
        .service(payments::list_payments)
        .service(payments::get_payment)
        .service(payments::payment_webhook)
        // Data-subject rights
        .service(data_rights::create_data_request)
        .service(data_rights::list_data_requests)
        .service(data_rights::get_data_request)
        .service(data_rights::export_my_data)
        // Council staff
        .service(admin_applications::application_queue)
        .service(admin_applications::application_detail)
        .service(admin_applications::transition_application)
        .service(admin_applications::assign_application)
        .service(admin_applications::refund_fee)
        .service(attachments::staff_download_attachment)
        .service(admin_data_requests::data_request_queue)
        .service(admin_data_requests::decide_data_request)
        .service(admin_audit::look_up_account)
        .service(admin_audit::list_audit_events)
        .service(admin::create_staff_account);
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
    let mut document = documented(App::new()).split_for_parts().1;
    crate::http::openapi::complete(&mut document);
    document
}

/// The document as served at `/openapi.json`: `openapi_document` with the bounds every string
/// format and integer type implies (see `openapi::bound_by_type`).
pub fn openapi_json() -> serde_json::Value {
    let mut document = serde_json::to_value(openapi_document()).expect("a document serialises");
    crate::http::openapi::bound_by_type(&mut document);
    document
}

/// The methods each documented path template accepts, so that a request with a known path but
/// another method gets 405 with `Allow` rather than 404.
pub struct AllowedMethods(Vec<(Vec<Option<String>>, Vec<&'static str>)>);

impl AllowedMethods {
    pub fn from_document(document: &utoipa::openapi::OpenApi) -> AllowedMethods {
        let templates = document
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path
                    .split('/')
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (segments, methods)
            })
            .collect();
        AllowedMethods(templates)
    }

    /// The methods allowed on `path`; empty when no documented path matches.
    pub fn for_path(&self, path: &str) -> Vec<&'static str> {
        let segments: Vec<&str> = path.split('/').collect();
        let mut allowed: Vec<&'static str> = self
            .0
            .iter()
            .filter(|(template, _)| {
                template.len() == segments.len()
                    && template
                        .iter()
                        .zip(&segments)
                        .all(|(t, s)| t.as_deref().is_none_or(|t| t == *s))
            })
            .flat_map(|(_, methods)| methods.iter().copied())
            .collect();
        allowed.sort_unstable();
        allowed.dedup();
        allowed
    }
}

/// What a request that matched no route gets: 405 with `Allow` when the path exists with other
/// methods, else 404 (both rendered as problem+json by the middleware).
pub async fn unrouted(
    req: actix_web::HttpRequest,
    allowed: actix_web::web::Data<AllowedMethods>,
) -> actix_web::HttpResponse {
    let methods = allowed.for_path(req.path());
    if methods.is_empty() || req.method() == actix_web::http::Method::OPTIONS {
        return actix_web::HttpResponse::NotFound().finish();
    }
    actix_web::HttpResponse::MethodNotAllowed()
        .insert_header((actix_web::http::header::ALLOW, methods.join(", ")))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_methods_follow_the_document() {
        let allowed = AllowedMethods::from_document(&openapi_document());
        assert_eq!(allowed.for_path("/health"), ["GET"]);
        assert_eq!(allowed.for_path("/api/v1/me"), ["GET", "PATCH"]);
        assert_eq!(
            allowed.for_path("/api/v1/applications/3f1c2f4e-0000-0000-0000-000000000000"),
            ["GET", "PATCH"]
        );
        assert!(allowed.for_path("/api/v1/nothing").is_empty());
        assert!(allowed.for_path("/api/v1/applications/x/y/z").is_empty());
    }
}
