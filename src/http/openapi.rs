//! The parts of the OpenAPI document that are not attached to a handler: title, tags, the bearer
//! security scheme and shared schemas. Paths are collected from the handlers by `routes`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};
use utoipa::{Modify, OpenApi as DeriveOpenApi};

use crate::http::error::{FieldError, PROBLEM_JSON, Problem};

#[derive(DeriveOpenApi)]
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
        (name = "payments", description = "Paying an application's fee through the payment provider (GOV.UK Pay), and its webhook"),
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
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let jwt = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "bearer",
            jwt(
                "A 15-minute access token from `POST /api/v1/sessions`: a JWS signed with HS256 \
                 and conforming to RFC8725 (JWT best current practices): the algorithm is fixed \
                 by the server, never taken from the token; `iss`, `aud`, `exp` and the session \
                 are checked on every request.",
            ),
        );
        components.add_security_scheme(
            "pay_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Pay-Signature",
                "The payment provider's webhook signature: the lower-case hex HMAC-SHA256 of the \
                 raw request body, keyed with the webhook's signing secret.",
            ))),
        );
        components.add_security_scheme(
            STAFF_SCHEME,
            jwt(
                "The same RFC8725-conforming access token, of a staff or admin account: the \
                 role is read from the database on every request, not from the token.",
            ),
        );
    }
}

/// Completes the document collected from the handlers: the problem responses every operation
/// can give (declared once under `components` and referenced), the rate-limit fields of
/// throttled operations, and a description on every response. Runs on the finished document.
pub fn complete(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    for (status, name) in STANDARD_PROBLEMS {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(problem_response(status)));
    }
    for (name, description, pattern) in RATE_LIMIT_HEADERS {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(100))
            .pattern(Some(pattern))
            .build();
        let header = HeaderBuilder::new()
            .schema(Some(schema))
            .description(Some(description))
            .build();
        components.headers.insert(name.to_owned(), RefOr::T(header));
    }
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            add_standard_problems(path, operation);
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

/// Bounds implied by a schema's type, stated so clients and linters see them: the length of a
/// `uuid`, `date` or `date-time` string (as the server writes and accepts them) and the range of
/// an `int32`/`int64` (unsigned ones are already `minimum: 0`). Also names the staff scheme on
/// `/api/v1/admin/` operations, which `http::auth::admin_gate` guards by that prefix.
pub fn bound_by_type(document: &mut serde_json::Value) {
    use serde_json::{Value, json};
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                let types = match map.get("type") {
                    Some(Value::String(t)) => vec![t.clone()],
                    Some(Value::Array(ts)) => ts
                        .iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                let format = map.get("format").and_then(Value::as_str).map(str::to_owned);
                if types.iter().any(|t| t == "string") && !map.contains_key("maxLength") {
                    let length = match format.as_deref() {
                        Some("uuid") => Some(36),
                        Some("date") => Some(10),
                        Some("date-time") => Some(35),
                        _ => None,
                    };
                    if let Some(length) = length {
                        map.insert("maxLength".into(), json!(length));
                    }
                }
                if types.iter().any(|t| t == "integer") {
                    let (min, max) = match format.as_deref() {
                        Some("int32") => (json!(i32::MIN), json!(i32::MAX)),
                        _ => (json!(i64::MIN), json!(i64::MAX)),
                    };
                    map.entry("minimum").or_insert(min);
                    map.entry("maximum").or_insert(max);
                }
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(document);
    close_request_objects(document);
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            if !path.starts_with("/api/v1/admin/") {
                continue;
            }
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                if let Some(security) = operation.get_mut("security") {
                    *security = json!([{ STAFF_SCHEME: [] }]);
                }
            }
        }
    }
}

/// Every request body refuses fields it does not name (`#[serde(deny_unknown_fields)]` on each
/// request type, data minimisation); utoipa does not carry that into the variants of a tagged
/// enum, so it is stated here for every object with named properties a request body reaches.
fn close_request_objects(document: &mut serde_json::Value) {
    use serde_json::Value;
    fn close(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
                map.values_mut().for_each(close);
            }
            Value::Array(items) => items.iter_mut().for_each(close),
            _ => {}
        }
    }
    let mut request_schemas = Vec::new();
    for item in document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
    {
        for operation in item.as_object().into_iter().flat_map(|o| o.values()) {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if let Some(name) = schema["$ref"].as_str().and_then(|r| r.rsplit('/').next()) {
                request_schemas.push(name.to_owned());
            }
        }
    }
    for name in request_schemas {
        if let Some(schema) = document["components"]["schemas"].get_mut(&name) {
            close(schema);
        }
    }
}

/// The security scheme of staff-only operations: the same bearer token, of a staff account.
const STAFF_SCHEME: &str = "staff_bearer";

/// The problem responses shared by every operation, by status, and their component names.
const STANDARD_PROBLEMS: [(&str, &str); 11] = [
    ("400", "MalformedRequest"),
    ("401", "Unauthorized"),
    ("403", "Forbidden"),
    ("404", "NotFound"),
    ("409", "Conflict"),
    ("413", "PayloadTooLarge"),
    ("415", "UnsupportedMediaType"),
    ("422", "ValidationFailed"),
    ("429", "RateLimited"),
    ("500", "InternalError"),
    ("503", "ServiceUnavailable"),
];

/// The IETF rate-limit fields (draft-ietf-httpapi-ratelimit-headers), `Retry-After`, and the
/// CORS field, which throttled answers list with the others: each with its pattern.
const RATE_LIMIT_HEADERS: [(&str, &str, &str); 4] = [
    (
        "RateLimit-Policy",
        "The limit this operation counts against: `\"sign-up\";q=10;w=60` (quota, window in seconds)",
        r#"^"[a-z-]+";q=[0-9]+;w=[0-9]+$"#,
    ),
    (
        "RateLimit",
        "What is left of it: `\"sign-up\";r=7;t=18` (requests left, seconds until the quota is whole)",
        r#"^"[a-z-]+";r=[0-9]+;t=[0-9]+$"#,
    ),
    (
        "Retry-After",
        "Seconds to wait before the request would be served (exact, rounded up)",
        "^[0-9]+$",
    ),
    (
        "Access-Control-Allow-Origin",
        "The caller's origin, when it is one of the configured frontend origins",
        "^https?://",
    ),
];

/// Adds every problem `path`'s operation can answer that its handler did not declare itself,
/// judged from what the operation takes: a body, a query, path ids, a token, the staff area, a
/// rate limit, the database.
fn add_standard_problems(path: &str, operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    let located = |place: ParameterIn| {
        operation.parameters.iter().flatten().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let (has_query, has_path_ids) = (located(ParameterIn::Query), located(ParameterIn::Path));
    let signed_in = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let staff_only = path.starts_with("/api/v1/admin/");
    let throttled = operation.responses.responses.contains_key("429");
    let uses_database = !matches!(path, "/health" | "/openapi.json" | "/docs");
    let applies = |status: &str| match status {
        "400" => has_body || has_query,
        "401" => signed_in,
        "403" => staff_only,
        "404" => has_path_ids,
        "413" | "415" => has_body,
        // Rules a parser cannot check (a reason too short, an address malformed) name the field.
        "422" => has_body || has_query,
        "429" => throttled,
        "500" => true,
        "503" => uses_database,
        _ => false,
    };
    let responses = &mut operation.responses.responses;
    for (status, name) in STANDARD_PROBLEMS {
        if !applies(status) || responses.contains_key(status) && status != "429" {
            continue;
        }
        let shared = match throttled {
            // Inline, because every answer of a throttled operation carries its own fields.
            true => RefOr::T(problem_response(status)),
            false => RefOr::Ref(Ref::new(format!("#/components/responses/{name}"))),
        };
        responses.insert(status.to_owned(), shared);
    }
    if throttled {
        for (status, response) in responses.iter_mut() {
            if let RefOr::T(response) = response {
                for (header, _, _) in RATE_LIMIT_HEADERS {
                    if header != "Retry-After" || status == "429" {
                        let shared = Ref::new(format!("#/components/headers/{header}"));
                        response
                            .headers
                            .insert(header.to_owned(), RefOr::Ref(shared));
                    }
                }
            }
        }
    }
}

/// A problem+json response with the standard wording for `status`.
fn problem_response(status: &str) -> Response {
    let problem = Content::new(Some(Ref::from_schema_name("Problem")));
    ResponseBuilder::new()
        .description(default_description(status))
        .content(PROBLEM_JSON, problem)
        .build()
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
        "500" => "An unexpected failure; nothing was changed",
        "503" => "A dependency (the database) is unavailable",
        _ => "See the problem document",
    }
}
