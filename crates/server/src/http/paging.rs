//! The page-size and offset checks every listing route shares, so each answers a bad value
//! the same way.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use missive_store::Timestamp;

use crate::error::{FieldError, Problem};

/// `limit` in 1..=`max`, `default` when absent.
pub fn page_limit(limit: Option<i64>, default: i64, max: i64) -> Result<i64, FieldError> {
    let limit = limit.unwrap_or(default);
    let problem = if limit < 1 {
        Problem::Below {
            min: 1,
            max: Some(max),
        }
    } else if limit > max {
        Problem::Above { min: 1, max }
    } else {
        return Ok(limit);
    };
    Err(FieldError::query("limit", problem))
}

/// An offset page: `limit` as [`page_limit`], `offset` >= 0 (0 when absent).
pub fn offset_page(
    limit: Option<i64>,
    offset: Option<i64>,
    default: i64,
    max: i64,
) -> Result<(i64, i64), FieldError> {
    let limit = page_limit(limit, default, max)?;
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(FieldError::query(
            "offset",
            Problem::Below { min: 0, max: None },
        ));
    }
    Ok((limit, offset))
}

/// The first `limit` of `rows` (read as `limit + 1`, the one more telling whether another
/// page follows) and the cursor after the last of them when one does.
pub fn keyset_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor_after: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = rows.last().filter(|_| more).map(cursor_after);
    (rows, next)
}

/// A keyset cursor after a row ordered by (time, id): opaque to clients, `<micros>.<id>`
/// inside.
pub fn time_cursor(at: Timestamp, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{id}", at.0))
}

/// The (time, id) of a cursor from [`time_cursor`]; anything else is refused.
pub fn read_time_cursor(cursor: &str) -> Result<(Timestamp, i64), FieldError> {
    let invalid = || FieldError::new("cursor", "is not a cursor this API gave out");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (at, id) = text.split_once('.').ok_or_else(invalid)?;
    let at = at.parse().map_err(|_| invalid())?;
    let id = id.parse().map_err(|_| invalid())?;
    Ok((Timestamp(at), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let cursor = time_cursor(Timestamp(1_700_000_000_000_000), 42);
        assert_eq!(
            read_time_cursor(&cursor),
            Ok((Timestamp(1_700_000_000_000_000), 42))
        );
        for bad in ["", "!!", "bm90LWEtY3Vyc29y", &URL_SAFE_NO_PAD.encode("1.x")] {
            assert!(read_time_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_and_offsets_are_checked_with_their_defaults() {
        assert_eq!(offset_page(None, None, 5, 100), Ok((5, 0)));
        assert_eq!(offset_page(Some(100), Some(7), 5, 100), Ok((100, 7)));
        for (limit, offset, field) in [
            (Some(0), None, "limit"),
            (Some(101), None, "limit"),
            (None, Some(-1), "offset"),
        ] {
            let refused = offset_page(limit, offset, 5, 100).unwrap_err();
            assert_eq!(refused.field.as_deref(), Some(field));
        }
    }
}
