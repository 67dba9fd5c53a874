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
