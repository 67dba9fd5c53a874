//! The parts of the OpenAPI document that are not attached to a handler: title, tags, the bearer
//! security scheme and shared schemas. Paths are collected from the handlers by `routes`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MyNorfolk account API",
        version = "1.0.0",
        description = "Resident accounts, highway service applications and data-subject rights for \
                       Norfolk County Council. Errors are RFC 9457 application/problem+json."
    ),
    tags(
        (name = "operational", description = "Health, readiness and documentation"),
        (name = "accounts", description = "Sign-up, email verification, password reset"),
        (name = "sessions", description = "Signing in and out; access and refresh tokens"),
        (name = "me", description = "The signed-in resident's own account"),
        (name = "services", description = "The catalogue of highway services"),
        (name = "applications", description = "A resident's applications"),
        (name = "data rights", description = "Access, erasure and rectification under UK GDPR"),
        (name = "admin", description = "Council staff (roles staff, admin)"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme (a short-lived JWT access token).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// OpenAPI requires a description on every response; where a handler gives none, the status's
/// standard wording (and for problems, a hint) fills it. Runs on the finished document, after the
/// routes' paths have been collected.
pub fn describe_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    response.description = default_description(status).to_owned();
                }
            }
        }
    }
}

fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "Done; no content",
        "400" => "Malformed request (problem+json)",
        "401" => "Not signed in, or the access token is invalid, expired or revoked",
        "403" => "Not allowed for this account",
        "404" => "Not found, or not yours",
        "409" => "Conflicts with the current state",
        "413" => "Body too large",
        "415" => "Body not sent as application/json",
        "422" => "Well-formed but invalid: `errors` names each field",
        "429" => "Too many requests: see Retry-After",
        "503" => "A dependency (the database) is unavailable",
        _ => "See the problem document",
    }
}
