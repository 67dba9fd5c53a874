//! The schema of each input field in the OpenAPI document, built from the constants the domain
//! validates with (`#[schema(schema_with = …)]`), so the document and the server cannot disagree.

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{KnownFormat, SchemaFormat};

use crate::domain::account::{AccountName, EmailAddress, Password, Role};
use crate::domain::attachment::FileType;
use crate::domain::services::ServiceKind;
use crate::domain::text::{self, TextRule};
use crate::http::pagination::{self, MAX_LIMIT};

fn known(format: KnownFormat) -> Option<SchemaFormat> {
    Some(SchemaFormat::KnownFormat(format))
}

fn string(nullable: bool) -> ObjectBuilder {
    let kind = match nullable {
        true => SchemaType::from_iter([Type::String, Type::Null]),
        false => SchemaType::new(Type::String),
    };
    ObjectBuilder::new().schema_type(kind)
}

/// JSON Schema keywords utoipa has no builder for (`not`, `const`), added verbatim.
fn with_keywords(mut object: Object, keywords: serde_json::Value) -> Object {
    let serde_json::Value::Object(keywords) = keywords else {
        unreachable!("keywords are an object")
    };
    object.extensions = Some(Extensions::from_iter(keywords));
    object
}

pub fn account_name() -> Object {
    string(false)
        .min_length(Some(1))
        .max_length(Some(AccountName::MAX_CHARS))
        .pattern(Some(AccountName::PATTERN))
        .examples(["Siân O'Brien-Ng"])
        .build()
}

pub fn email() -> Object {
    string(false)
        .format(known(KnownFormat::Email))
        .min_length(Some(3))
        .max_length(Some(EmailAddress::MAX_CHARS))
        .pattern(Some(EmailAddress::PATTERN))
        .examples(["sian@example.org"])
        .build()
}

/// A password being chosen: the policy, including the list of refused common ones.
pub fn new_password() -> Object {
    let common: Vec<String> = Password::COMMON
        .iter()
        .map(|p| format!("^{}$", case_insensitive(p)))
        .collect();
    let object = string(false)
        .format(known(KnownFormat::Password))
        .min_length(Some(Password::MIN_CHARS))
        .max_length(Some(Password::MAX_CHARS))
        .pattern(Some(text::ANY_TEXT))
        .description(Some(
            "12–128 characters; not one character repeated, not a well-known password",
        ))
        .build();
    let mut refused = vec![serde_json::json!({"pattern": r"^([\s\S])\1*$"})];
    refused.extend(
        common
            .into_iter()
            .map(|p| serde_json::json!({"pattern": p})),
    );
    with_keywords(object, serde_json::json!({"not": {"anyOf": refused}}))
}

/// A password being checked (sign-in, confirming an email change): any the policy allows.
pub fn current_password() -> Object {
    string(false)
        .format(known(KnownFormat::Password))
        .max_length(Some(Password::MAX_CHARS))
        .pattern(Some(text::ANY_TEXT))
        .build()
}

/// `[pP][aA]…` for a case-insensitive match without flags (ECMA-262 has no inline ones).
fn case_insensitive(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            c if c.is_ascii_alphabetic() => {
                format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
            }
            c if c.is_ascii_alphanumeric() => c.to_string(),
            c => format!("\\{c}"),
        })
        .collect()
}

/// A token from an emailed link or a refresh token: 256 random bits, base64url.
pub fn opaque_token() -> Object {
    string(false)
        .min_length(Some(43))
        .max_length(Some(43))
        .pattern(Some("^[A-Za-z0-9_-]{43}$"))
        .build()
}

fn text(rule: TextRule, nullable: bool) -> Object {
    string(nullable)
        .min_length((rule.min_chars > 0).then_some(rule.min_chars))
        .max_length(Some(rule.max_chars))
        .pattern(Some(rule.pattern))
        .build()
}

pub fn note() -> Object {
    text(text::NOTE, true)
}

pub fn required_reason() -> Object {
    text(text::REQUIRED_REASON, false)
}

pub fn access_reason() -> Object {
    text(text::ACCESS_REASON, false)
}

pub fn optional_access_reason() -> Object {
    text(text::ACCESS_REASON, true)
}

/// `accept_terms`: only `true` opens an account.
pub fn must_be_true() -> Object {
    let object = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Boolean))
        .build();
    with_keywords(object, serde_json::json!({"const": true}))
}

/// The roles a member of staff can be given.
pub fn staff_role() -> Object {
    let roles = [Role::Staff, Role::Admin].map(Role::as_str);
    string(false).enum_values(Some(roles)).build()
}

fn service_codes(nullable: bool) -> Object {
    let codes = ServiceKind::ALL.map(ServiceKind::code);
    string(nullable).enum_values(Some(codes)).build()
}

pub fn service_code() -> Object {
    service_codes(false)
}

pub fn service_filter() -> Object {
    service_codes(true)
}

/// A service's `details`: an object, checked against that service's `details_schema` (served in
/// the catalogue) and its rules relative to today (dates, periods, insurance) on submission.
pub fn details() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .description(Some(
            "The service's details, as its `details_schema` in the catalogue describes",
        ))
        .build()
}

pub fn cursor() -> Object {
    string(true)
        .max_length(Some(pagination::CURSOR_MAX_CHARS))
        .pattern(Some(pagination::CURSOR_PATTERN))
        .description(Some("`next_cursor` of the previous page"))
        .build()
}

/// `next_cursor` of any list: a timestamp cursor or an id cursor, whichever the list uses.
pub fn any_cursor() -> Object {
    string(true)
        .max_length(Some(pagination::CURSOR_MAX_CHARS))
        .pattern(Some(format!(
            "(?:{})|(?:{})",
            pagination::CURSOR_PATTERN,
            pagination::ID_CURSOR_PATTERN
        )))
        .description(Some(
            "Pass as `cursor` for the next page; `null` on the last page",
        ))
        .build()
}

/// An application's reference, such as `SKP-2026-000042`.
pub fn reference() -> Object {
    string(false)
        .max_length(Some(24))
        .pattern(Some(crate::domain::application::REFERENCE_PATTERN))
        .examples(["SKP-2026-000042"])
        .build()
}

pub fn id_cursor() -> Object {
    string(true)
        .max_length(Some(18))
        .pattern(Some(pagination::ID_CURSOR_PATTERN))
        .description(Some("`next_cursor` of the previous page"))
        .build()
}

pub fn date_filter() -> Object {
    string(true)
        .format(known(KnownFormat::Date))
        .max_length(Some(10))
        .pattern(Some(pagination::DATE_PATTERN))
        .build()
}

pub fn time_filter() -> Object {
    string(true)
        .format(known(KnownFormat::DateTime))
        .max_length(Some(35))
        .pattern(Some(pagination::TIME_PATTERN))
        .build()
}

pub fn reference_prefix() -> Object {
    string(true)
        .max_length(Some(REFERENCE_PREFIX_MAX_CHARS))
        .pattern(Some(REFERENCE_PREFIX_PATTERN))
        .examples(["SKP-2026-00004"])
        .build()
}

/// `q` of the staff queue: a reference or its beginning, any case.
pub const REFERENCE_PREFIX_PATTERN: &str = "^[A-Za-z0-9-]*$";
pub const REFERENCE_PREFIX_MAX_CHARS: usize = 20;
/// `action` of the audit log filter.
pub const AUDIT_ACTION_PATTERN: &str = r"^[a-z_.]+$";
pub const AUDIT_ACTION_MAX_CHARS: usize = 64;

pub fn audit_action_filter() -> Object {
    string(true)
        .max_length(Some(AUDIT_ACTION_MAX_CHARS))
        .pattern(Some(AUDIT_ACTION_PATTERN))
        .examples(["account.looked_up"])
        .build()
}

pub fn extension_months() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .format(known(KnownFormat::Int32))
        .minimum(Some(1))
        .maximum(Some(crate::domain::deadlines::MAX_EXTENSION_MONTHS))
        .build()
}

pub fn limit() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .format(known(KnownFormat::Int64))
        .minimum(Some(1))
        .maximum(Some(MAX_LIMIT))
        .description(Some("Items per page, default 20"))
        .build()
}

/// The payment provider's webhook message (GOV.UK Pay's): the fields this service reads; the
/// provider's other fields are accepted as they are.
pub fn webhook_message() -> Object {
    let id = |description: &str| {
        string(false)
            .max_length(Some(200))
            .description(Some(description))
            .build()
    };
    let state = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .property("status", string(false).max_length(Some(50)).build())
        .required("status")
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
        ))
        .build();
    let resource = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .property("state", state)
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
        ))
        .description(Some(
            "The payment, as `GET /v1/payments/{id}` would show it",
        ))
        .build();
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .property(
            "webhook_message_id",
            id("The message's id (the same on every delivery)"),
        )
        .property("resource_id", id("The provider's id of the payment"))
        .property(
            "resource_type",
            id("`payment` (others are acknowledged and ignored)"),
        )
        .property("event_type", id("Such as `card_payment_succeeded`"))
        .property("resource", resource)
        .required("webhook_message_id")
        .required("resource_id")
        .required("resource_type")
        .required("event_type")
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(true),
        ))
        .build()
}

/// The types an attachment can have (judged from its content).
pub fn attachment_content_type() -> Object {
    let types = [FileType::Pdf, FileType::Png, FileType::Jpeg].map(FileType::content_type);
    string(false).enum_values(Some(types)).build()
}

/// An uploaded file: any bytes (the server judges the type from them), at most
/// `storage.max_upload_bytes` (10 MiB unless configured otherwise).
pub fn upload_file() -> Object {
    string(false)
        .content_media_type("application/octet-stream")
        .max_length(Some(10 * 1024 * 1024))
        .description(Some(
            "A PDF, PNG or JPEG file (judged by its content, not its name) of at most 10 MiB",
        ))
        .build()
}

/// A file's bytes, as a download sends them: an attachment (at most the largest upload the
/// configuration allows, 1 GiB) or a permit.
pub fn file_bytes() -> Object {
    string(false)
        .content_media_type("application/octet-stream")
        .max_length(Some(1 << 30))
        .build()
}

/// The export's zip archive: the JSON and every attached file (at most 20 per application).
pub fn archive_bytes() -> Object {
    string(false)
        .content_media_type("application/zip")
        .max_length(Some(1 << 40))
        .build()
}

/// A permit's verification code, as printed on it (hyphens, spaces and case are forgiven).
pub fn permit_code() -> Object {
    string(false)
        .min_length(Some(1))
        .max_length(Some(40))
        .pattern(Some("^[0-9A-Za-z -]+$"))
        .examples(["7KQ2M-X9HTA"])
        .build()
}

/// A signed unsubscribe token, as the link in an email carries it.
pub fn unsubscribe_token() -> Object {
    string(false)
        .min_length(Some(1))
        .max_length(Some(200))
        .pattern(Some("^[A-Za-z0-9_-]+$"))
        .build()
}

/// A required query parameter. By hand, because utoipa's derive drops `required` from a
/// parameter whose schema is `schema_with`.
pub fn required_query(
    name: &str,
    description: &str,
    schema: Object,
) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(utoipa::openapi::Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_case_insensitive_patterns_refuse_what_the_policy_refuses() {
        for common in Password::COMMON {
            let pattern = regex::Regex::new(&format!("^{}$", case_insensitive(common))).unwrap();
            assert!(pattern.is_match(&common.to_uppercase()), "{common}");
            assert!(Password::parse(&common.to_uppercase()).is_err(), "{common}");
        }
    }
}
