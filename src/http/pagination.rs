//! Cursor pagination: `limit` (default 20, at most 100) and an opaque `cursor` naming the last
//! row of the previous page. Lists answer `{ "items": [...], "next_cursor": "..." | null }`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::applications::Position;
use crate::http::ApiError;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last page.
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
    let invalid = || ApiError::MalformedRequest("cursor is not one this API gave out".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (micros, id) = text.split_once('.').ok_or_else(invalid)?;
    let micros = micros.parse().map_err(|_| invalid())?;
    let submitted_at = DateTime::from_timestamp_micros(micros).ok_or_else(invalid)?;
    check_year("cursor", submitted_at.year())?;
    Ok(Position {
        submitted_at,
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
    URL_SAFE_NO_PAD.encode(format!(
        "{}.{}",
        position.submitted_at.timestamp_micros(),
        position.id
    ))
}

/// Decodes a cursor over a numeric id (the audit log's).
pub fn parse_id_cursor(
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<(i64, Option<i64>), ApiError> {
    let (limit, _) = parse(limit, None)?;
    let id = cursor
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("id.").and_then(|n| n.parse().ok()))
                .ok_or_else(|| {
                    ApiError::MalformedRequest("cursor is not one this API gave out".into())
                })
        })
        .transpose()?;
    Ok((limit, id))
}

pub fn encode_id(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id.{id}"))
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
            submitted_at: DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        let (_, decoded) = parse(None, Some(&encode(position))).unwrap();
        assert_eq!(decoded, Some(position));
        let ancient =
            URL_SAFE_NO_PAD.encode(format!("{}.{}", -210_000_000_000_000_000i64, Uuid::nil()));
        for bad in ["", "abc", "bm90LWEtY3Vyc29y", ancient.as_str()] {
            assert!(parse(None, Some(bad)).is_err(), "{bad}");
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
