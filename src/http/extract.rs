//! Extractors that answer bad input with problem+json instead of actix's plain-text defaults.
//!
//! `Json<T>` reads a JSON body: wrong content type → 415, too large → 413, not JSON → 400,
//! well-formed but wrong (unknown field, wrong type, missing field) → 422 naming the field.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::domain::validation::{ValidationErrors, json_field_problem, without_position};
use crate::http::error::ApiError;

/// The body size limit, registered as app data by `startup`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json_content_type(req);
        let limit = req
            .app_data::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit(64 * 1024));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = body.await.map_err(|error| {
                if error.as_response_error().status_code().as_u16() == 413 {
                    ApiError::PayloadTooLarge { limit: limit.0 }
                } else {
                    ApiError::MalformedRequest("the request body could not be read".into())
                }
            })?;
            parse_json(&bytes).map(Json)
        })
    }
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Ok(Some(mime)) = req.mime_type() else {
        return false;
    };
    mime.type_() == mime::APPLICATION
        && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
}

/// Parses a JSON document into `T`, classifying failures for the client.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            Category::Data => ValidationErrors(vec![json_field_problem(&path, &inner)]).into(),
            Category::Syntax | Category::Eof | Category::Io => ApiError::MalformedRequest(format!(
                "the body is not valid JSON: {}",
                without_position(&inner)
            )),
        }
    })?;
    deserializer.end().map_err(|error| {
        ApiError::MalformedRequest(format!(
            "the body is not valid JSON: {}",
            without_position(&error)
        ))
    })?;
    Ok(value)
}

/// An optional whole number as JSON Schema counts one: `2` and `2.0` alike (serde's integer types
/// refuse `2.0`, which the document's `type: integer` allows).
pub fn optional_whole_u32<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    use serde::Deserialize;
    Option::<serde_json::Number>::deserialize(deserializer)?
        .map(|number| whole(&number).ok_or_else(|| not_whole(&number)))
        .transpose()
}

/// A whole number as JSON Schema counts one (see `optional_whole_u32`).
pub fn whole_i32<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
    use serde::Deserialize;
    let number = serde_json::Number::deserialize(deserializer)?;
    whole(&number).ok_or_else(|| not_whole(&number))
}

fn whole<N: TryFrom<i64>>(number: &serde_json::Number) -> Option<N> {
    let exact = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0)
            .map(|f| f as i64)
    })?;
    N::try_from(exact).ok()
}

fn not_whole<E: serde::de::Error>(number: &serde_json::Number) -> E {
    E::custom(format!("expected a whole number in range, got {number}"))
}

/// No string may hold NUL (`\u0000`): PostgreSQL text cannot store it and no one types it. The
/// OpenAPI document says so for every string (`domain::text::ANY_TEXT`); here it is enforced
/// once for every body, naming the field.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    // In JSON a NUL can only be written as this escape; most bodies are spared the second parse.
    if !bytes.windows(6).any(|w| w == br"\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(()); // malformed: the real parse reports it
    };
    match path_to_nul(&value) {
        Some(path) => Err(ApiError::invalid(
            path,
            "must not contain the NUL character",
        )),
        None => Ok(()),
    }
}

/// The dotted path of the first string (or key) holding NUL.
fn path_to_nul(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let join = |head: &str, tail: Option<String>| match tail {
        Some(tail) if !tail.is_empty() => format!("{head}.{tail}"),
        _ => head.to_owned(),
    };
    match value {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| path_to_nul(item).map(|tail| join(&i.to_string(), Some(tail)))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(key.replace('\0', "\\u0000"));
            }
            path_to_nul(item).map(|tail| join(key, Some(tail)))
        }),
        _ => None,
    }
}

/// The `Idempotency-Key` header of a POST that creates something: 1–255 visible ASCII characters.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "must be 1–255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::FieldError;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn fields(result: Result<Outer, ApiError>) -> Vec<FieldError> {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn unknown_top_level_field_is_named() {
        let errors = fields(parse_json(
            br#"{"name":"a","inner":{"count":1},"phone":"1"}"#,
        ));
        assert_eq!(
            errors,
            vec![FieldError::new("phone", "is not an accepted field")]
        );
    }

    #[test]
    fn unknown_nested_field_has_its_path() {
        let errors = fields(parse_json(br#"{"name":"a","inner":{"count":1,"x":2}}"#));
        assert_eq!(errors[0].field, "inner.x");
    }

    #[test]
    fn missing_field_is_named() {
        let errors = fields(parse_json(br#"{"inner":{"count":1}}"#));
        assert_eq!(errors, vec![FieldError::new("name", "is required")]);
    }

    #[test]
    fn wrong_type_points_at_the_field() {
        let errors = fields(parse_json(br#"{"name":"a","inner":{"count":"many"}}"#));
        assert_eq!(errors[0].field, "inner.count");
        assert!(
            errors[0].message.contains("invalid type"),
            "{:?}",
            errors[0]
        );
    }

    #[test]
    fn nul_anywhere_is_refused_naming_the_field() {
        let errors = fields(parse_json(br#"{"name":"a\u0000b","inner":{"count":1}}"#));
        assert_eq!(
            errors,
            vec![FieldError::new(
                "name",
                "must not contain the NUL character"
            )]
        );
        let nested = parse_json::<serde_json::Value>(br#"{"a":{"b":["x","\u0000"]}}"#);
        assert!(
            matches!(&nested, Err(ApiError::Validation(e)) if e[0].field == "a.b.1"),
            "{nested:?}"
        );
        // An escaped backslash before "u0000" is not a NUL.
        assert!(parse_json::<serde_json::Value>(br#"{"a":"\\u0000"}"#).is_ok());
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_point_zero() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Months {
            #[serde(default, deserialize_with = "optional_whole_u32")]
            months: Option<u32>,
        }
        let parse = |body: &[u8]| parse_json::<Months>(body).map(|m| m.months);
        assert_eq!(parse(br#"{"months":2}"#).unwrap(), Some(2));
        assert_eq!(parse(br#"{"months":2.0}"#).unwrap(), Some(2));
        assert_eq!(parse(br#"{}"#).unwrap(), None);
        assert!(parse(br#"{"months":2.5}"#).is_err());
        assert!(parse(br#"{"months":-1}"#).is_err());

        #[derive(Debug, Deserialize)]
        struct Amount {
            #[serde(deserialize_with = "whole_i32")]
            pence: i32,
        }
        let parse = |body: &[u8]| parse_json::<Amount>(body).map(|a| a.pence);
        assert_eq!(parse(br#"{"pence":361399.0}"#).unwrap(), 361_399);
        assert_eq!(parse(br#"{"pence":-5}"#).unwrap(), -5);
        assert!(parse(br#"{"pence":1.5}"#).is_err());
        assert!(parse(br#"{"pence":3000000000}"#).is_err());
        assert!(parse(br#"{"pence":"7"}"#).is_err());
    }

    #[test]
    fn syntax_errors_are_malformed_requests() {
        for body in [
            &b"{"[..],
            b"not json",
            b"{\"name\":\"a\",\"inner\":{\"count\":1}} trailing",
            b"",
        ] {
            let result: Result<Outer, _> = parse_json(body);
            assert!(
                matches!(result, Err(ApiError::MalformedRequest(_))),
                "{body:?}"
            );
        }
    }
}
