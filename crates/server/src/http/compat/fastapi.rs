//! What makes the compatibility faces answer like the FastAPI services they replace, where a
//! client can tell: 422 bodies in FastAPI's shape (`{"detail": [{type, loc, msg, ctx}]}`), a
//! body without `Content-Type` read as JSON, and a trailing slash redirected. `/v1` has none
//! of this.

use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode, FieldError, InputRejected, Loc, Problem};

/// Middleware on every route of both faces.
pub async fn face(mut request: Request, next: Next) -> Response {
    // FastAPI parses a body that declares no type as JSON; clients rely on it.
    if !request.headers().contains_key(CONTENT_TYPE) {
        let json = HeaderValue::from_static("application/json");
        request.headers_mut().insert(CONTENT_TYPE, json);
    }
    let response = next.run(request).await;
    let Some(InputRejected(errors)) = response.extensions().get::<InputRejected>().cloned() else {
        return response;
    };
    // Every refused input is a 422 listing FastAPI's entries: a malformed body too.
    let body = json!({
        "detail": errors.iter().map(entry).collect::<Vec<_>>(),
        "code": ErrorCode::ValidationFailed,
    });
    let (mut parts, _) = response.into_parts();
    parts.status = StatusCode::UNPROCESSABLE_ENTITY;
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// One refused value as pydantic v2 reports it, without its `input` (FastAPI echoes the
/// rejected value, passwords included; we never do).
pub fn entry(error: &FieldError) -> Value {
    let mut loc = vec![json!(match error.loc {
        Loc::Body => "body",
        Loc::Query => "query",
    })];
    loc.extend(
        error
            .field
            .iter()
            .flat_map(|f| f.split('.'))
            .map(|f| json!(f)),
    );
    let (kind, msg, ctx): (&str, String, Option<Value>) = match &error.problem {
        Problem::Missing => ("missing", "Field required".into(), None),
        Problem::NotString => ("string_type", "Input should be a valid string".into(), None),
        Problem::NotInteger => ("int_type", "Input should be a valid integer".into(), None),
        Problem::Fractional => (
            "int_from_float",
            "Input should be a valid integer, got a number with a fractional part".into(),
            None,
        ),
        Problem::NotIntegerText => (
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer".into(),
            None,
        ),
        Problem::NotObject => (
            "model_attributes_type",
            "Input should be a valid dictionary or object to extract fields from".into(),
            None,
        ),
        Problem::TooShort { min, .. } => (
            "string_too_short",
            format!(
                "String should have at least {min} character{}",
                plural(*min)
            ),
            Some(json!({"min_length": min})),
        ),
        Problem::TooLong { max, .. } => (
            "string_too_long",
            format!("String should have at most {max} character{}", plural(*max)),
            Some(json!({"max_length": max})),
        ),
        Problem::Below { min, .. } => (
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
            Some(json!({"ge": min})),
        ),
        Problem::Above { max, .. } => (
            "less_than_equal",
            format!("Input should be less than or equal to {max}"),
            Some(json!({"le": max})),
        ),
        Problem::Pattern { pattern, .. } => (
            "string_pattern_mismatch",
            format!("String should match pattern '{pattern}'"),
            Some(json!({"pattern": pattern})),
        ),
        Problem::Email { reason } => (
            "value_error",
            format!("value is not a valid email address: {reason}"),
            Some(json!({"reason": reason})),
        ),
        // FastAPI says a body that is absent or empty is missing, not malformed.
        Problem::Json(syntax) if syntax.empty => ("missing", "Field required".into(), None),
        Problem::Json(syntax) => {
            loc.push(json!(syntax.offset));
            let ctx = json!({"error": syntax.reason});
            ("json_invalid", "JSON decode error".into(), Some(ctx))
        }
        // Rules of our own that pydantic has no type for: its custom-validator shape.
        Problem::WrongType(_) | Problem::Nul | Problem::Invalid(_) => {
            let reason = error.message();
            let msg = format!("Value error, {reason}");
            ("value_error", msg, Some(json!({"error": reason})))
        }
    };
    let mut entry = json!({"type": kind, "loc": loc, "msg": msg});
    if let Some(ctx) = ctx {
        entry["ctx"] = ctx;
    }
    entry
}

/// pydantic's "character" / "characters".
fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The route templates of both faces and the health checks (the Chat Service has `/healthz`).
static FACE_ROUTES: LazyLock<Vec<String>> = LazyLock::new(|| {
    let (_, api) = super::routes()
        .merge(crate::http::health::routes())
        .split_for_parts();
    api.paths.paths.into_keys().collect()
});

/// The router's fallback: no route has this path. FastAPI (Starlette) answers a path with a
/// trailing slash whose slash-less form is a route with 307 to that form, keeping the query;
/// the faces do the same. Only that direction: `GET /messages` and `GET /messages/` are routes
/// of two different faces, so adding a slash never finds a route that was missing. The
/// `Location` is relative: behind a TLS proxy we cannot know the scheme the client used.
pub async fn fallback(uri: Uri) -> Response {
    match slashless(&uri) {
        Some(location) => (StatusCode::TEMPORARY_REDIRECT, [(LOCATION, location)]).into_response(),
        None => ApiError::not_found(ErrorCode::NotFound, "Not Found").into_response(),
    }
}

fn slashless(uri: &Uri) -> Option<String> {
    let path = uri.path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() == path.len() || trimmed.is_empty() {
        return None;
    }
    if !FACE_ROUTES.iter().any(|route| matches(route, trimmed)) {
        return None;
    }
    Some(match uri.query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    })
}

/// Whether `path` fits a route template (`{name}` is any one non-empty segment).
fn matches(template: &str, path: &str) -> bool {
    let (mut want, mut have) = (template.split('/'), path.split('/'));
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some(w), Some(h)) if w.starts_with('{') && !h.is_empty() => {}
            (Some(w), Some(h)) if w == h => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(uri: &str) -> Option<String> {
        slashless(&uri.parse().unwrap())
    }

    #[test]
    fn only_a_trailing_slash_on_a_face_route_redirects() {
        assert_eq!(redirect("/send/").as_deref(), Some("/send"));
        assert_eq!(
            redirect("/auth/login//?a=1").as_deref(),
            Some("/auth/login?a=1")
        );
        assert_eq!(redirect("/messages/17/").as_deref(), Some("/messages/17"));
        assert_eq!(redirect("/v1/users/"), None);
        assert_eq!(redirect("/send/x/"), None);
        assert_eq!(redirect("/send"), None);
        assert_eq!(redirect("/"), None);
    }

    #[test]
    fn entries_follow_pydantic() {
        let short = FieldError::body("content", Problem::TooShort { min: 1, max: 2000 });
        assert_eq!(
            entry(&short),
            json!({"type": "string_too_short", "loc": ["body", "content"],
                   "msg": "String should have at least 1 character", "ctx": {"min_length": 1}})
        );
        let missing = FieldError::query("peer_id", Problem::Missing);
        assert_eq!(
            entry(&missing),
            json!({"type": "missing", "loc": ["query", "peer_id"], "msg": "Field required"})
        );
    }
}
