//! Cursor pagination: `limit` (default 20, at most 100) and a `cursor` naming the last row of the
//! previous page. Lists answer `{ "items": [...], "next_cursor": "..." | null }`.
//!
//! Cursors are opaque to clients, but plain (`<microseconds>.<uuid>`, or an id) so that their
//! whole rule is a pattern in the OpenAPI document: any cursor that matches is served.

use std::sync::LazyLock;

use chrono::DateTime;
use regex::Regex;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use serde::Deserialize;
use utoipa::IntoParams;

use crate::db::Position;
use crate::http::ApiError;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// `<microseconds since 1970>.<id>`: at most 17 digits keeps it before the year 5000.
pub const CURSOR_PATTERN: &str =
    "^[0-9]{1,17}[.][0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
pub const CURSOR_MAX_CHARS: usize = 17 + 1 + 36;
/// A positive id below 10^18 (`i64` holds it).
pub const ID_CURSOR_PATTERN: &str = "^[0-9]{1,18}$";
/// Dates people and PostgreSQL use: the years 1900 to 9999.
pub const DATE_PATTERN: &str = "^(?:19[0-9]{2}|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$";
pub const TIME_PATTERN: &str = "^(?:19[0-9]{2}|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}T";

/// `?cursor=&limit=` of a newest-first list with no filters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[param(schema_with = crate::http::schemas::cursor)]
    pub cursor: Option<String>,
    #[param(schema_with = crate::http::schemas::limit)]
    pub limit: Option<i64>,
}

/// `?cursor=&limit=` of an oldest-first list whose cursor is a row id.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IdPageQuery {
    #[param(schema_with = crate::http::schemas::id_cursor)]
    pub cursor: Option<String>,
    #[param(schema_with = crate::http::schemas::limit)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    // MAX_LIMIT
    #[schema(max_items = 100)]
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(schema_with = crate::http::schemas::any_cursor)]
    pub next_cursor: Option<String>,
}

/// Checks `limit` and decodes `cursor`.
pub fn parse(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(i64, Option<Position>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::MalformedRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let position = cursor.map(decode).transpose()?;
    Ok((limit, position))
}

fn decode(cursor: &str) -> Result<Position, ApiError> {
    static RULE: LazyLock<Regex> = LazyLock::new(|| Regex::new(CURSOR_PATTERN).expect("valid"));
    let invalid = || ApiError::MalformedRequest("cursor is not one this API gave out".into());
    if !RULE.is_match(cursor) {
        return Err(invalid());
    }
    let (micros, id) = cursor.split_once('.').ok_or_else(invalid)?;
    let micros = micros.parse().map_err(|_| invalid())?;
    Ok(Position {
        at: DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?,
        id: Uuid::parse_str(id).map_err(|_| invalid())?,
    })
}

/// Dates in filters and cursors must be ones PostgreSQL and people use: years 1900–9999.
pub fn check_year(field: &str, year: i32) -> Result<(), ApiError> {
    if (1900..=9999).contains(&year) {
        Ok(())
    } else {
        Err(ApiError::MalformedRequest(format!(
            "{field} must be a date between the years 1900 and 9999"
        )))
    }
}

pub fn encode(position: Position) -> String {
    format!("{}.{}", position.at.timestamp_micros(), position.id)
}

/// Decodes a cursor over a numeric id (the audit log's).
pub fn parse_id_cursor(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(i64, Option<i64>), ApiError> {
    let (limit, _) = parse(limit, None)?;
    static RULE: LazyLock<Regex> = LazyLock::new(|| Regex::new(ID_CURSOR_PATTERN).expect("valid"));
    let id = cursor
        .map(|c| {
            c.parse().ok().filter(|_| RULE.is_match(c)).ok_or_else(|| {
                ApiError::MalformedRequest("cursor is not one this API gave out".into())
            })
        })
        .transpose()?;
    Ok((limit, id))
}

pub fn encode_id(id: i64) -> String {
    id.to_string()
}

/// Cuts the `limit + 1` rows fetched down to a page, with the cursor for the next one.
pub fn page<R, T>(
    rows: Vec<R>,
    limit: i64,
    position: impl Fn(&R) -> Position,
    view: impl Fn(R) -> T,
) -> Page<T> {
    page_with(rows, limit, |r| encode(position(r)), view)
}

/// As `page`, with the caller's cursor encoding.
pub fn page_with<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    cursor: impl Fn(&R) -> String,
    view: impl Fn(R) -> T,
) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more { rows.last().map(cursor) } else { None };
    Page {
        items: rows.into_iter().map(view).collect(),
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let position = Position {
            at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        let (_, decoded) = parse(None, Some(&encode(position))).unwrap();
        assert_eq!(decoded, Some(position));
        let ancient = format!("{}.{}", -210_000_000_000_000_000i64, Uuid::nil());
        let simple_id = format!("1.{}", Uuid::nil().simple());
        for bad in ["", "abc", "bm90LWEtY3Vyc29y", &ancient, &simple_id] {
            assert!(parse(None, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn id_cursors_are_plain_positive_ids() {
        assert_eq!(
            parse_id_cursor(None, Some(&encode_id(42))).unwrap().1,
            Some(42)
        );
        for bad in ["", "-1", "+1", "1e3", "1234567890123456789"] {
            assert!(parse_id_cursor(None, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(parse(None, None).unwrap().0, 20);
        assert_eq!(parse(Some(100), None).unwrap().0, 100);
        assert!(parse(Some(0), None).is_err());
        assert!(parse(Some(101), None).is_err());
    }
}
