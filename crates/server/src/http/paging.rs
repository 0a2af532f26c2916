//! The page-size and offset checks every listing route shares, so each answers a bad value
//! the same way.

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

#[cfg(test)]
mod tests {
    use super::*;

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
