//! Our own `Json` and `Query` extractors, so malformed input gets the same JSON error body as
//! everything else, and a rejected value (a password, say) is never echoed back.

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// A JSON request body.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&req) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes =
            Bytes::from_request(req, state)
                .await
                .map_err(|rejection: BytesRejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                    _ => ApiError::BadRequest {
                        code: "unreadable_body",
                        detail: "Could not read the request body".into(),
                    },
                })?;
        parse_json(&bytes).map(Json)
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or_default().trim();
    let mime = mime.to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Deserializes a body: syntax errors are 400, type and shape errors are 422 naming the field.
/// Every body we take is a JSON object, and no string in it may hold a NUL character (text
/// columns cannot store one, and no user means to send one).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(FieldError::new("body", "must be a JSON object").into());
    }
    if has_nul_escape(bytes) {
        return Err(FieldError::new("body", "must not contain NUL characters (\\u0000)").into());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                ApiError::Validation(vec![describe(&path, &inner)])
            }
            _ => malformed(&inner),
        }
    })?;
    // Trailing bytes after the value make the whole body malformed.
    deserializer.end().map_err(|err| malformed(&err))?;
    Ok(value)
}

/// Whether the JSON text holds a `\u0000` escape: a `u0000` after an odd number of backslashes
/// (after an even number, the backslashes escape each other and the text is literal).
fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(5).enumerate().any(|(at, window)| {
        window == b"u0000"
            && bytes[..at]
                .iter()
                .rev()
                .take_while(|b| **b == b'\\')
                .count()
                % 2
                == 1
    })
}

fn malformed(err: &serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        code: "malformed_json",
        detail: format!(
            "Malformed JSON at line {} column {}",
            err.line(),
            err.column()
        ),
    }
}

/// Says what is wrong with a field without repeating the value that was sent: serde's messages
/// quote it ("invalid type: string \"hunter2\", expected ..."), so only the expectation is kept.
fn describe(path: &str, err: &serde_json::Error) -> FieldError {
    let message = err.to_string();
    if let Some(name) = missing_field(&message) {
        let field = if path == "." {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        return FieldError::new(field, "field required");
    }
    let field = if path == "." {
        "body".to_owned()
    } else {
        path.to_owned()
    };
    let expected = message
        .split(", expected ")
        .nth(1)
        .map(|rest| rest.split(" at line ").next().unwrap_or(rest));
    match expected {
        Some(expected) => FieldError::new(field, format!("invalid value: expected {expected}")),
        None => FieldError::new(field, "invalid value"),
    }
}

/// The field a serde "missing field `name`" message names.
fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// A query string.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection: QueryRejection| {
                // The message names the parameter and what was expected; query values are
                // never secrets.
                let text = rejection.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                let error = match missing_field(message) {
                    Some(name) => FieldError::new(name, "field required"),
                    None => FieldError::new("query", message),
                };
                ApiError::from(error)
            })
    }
}

/// The client's `User-Agent`, if it sent a readable one (kept with its sessions).
pub struct UserAgent(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(Self(agent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    fn errors_of(body: &str) -> Vec<FieldError> {
        match parse_json::<Login>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_field_is_named() {
        assert_eq!(
            errors_of(r#"{"email": "a@b.c"}"#),
            vec![FieldError::new("password", "field required")]
        );
    }

    #[test]
    fn a_rejected_value_is_never_echoed() {
        let errors = errors_of(r#"{"email": "a@b.c", "password": 1234567890}"#);
        assert_eq!(errors[0].field, "password");
        assert!(!errors[0].message.contains("1234567890"), "{errors:?}");
    }

    #[test]
    fn nul_escapes_are_found_but_escaped_backslashes_are_not() {
        assert!(has_nul_escape(br#"{"a": "x\u0000y"}"#));
        assert!(has_nul_escape(br#"{"a": "x\\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a": "x\\u0000"}"#));
        assert!(!has_nul_escape(br#"{"a": "u0000"}"#));
    }

    #[test]
    fn only_objects_are_bodies() {
        let refused = parse_json::<Login>(br#"["a@b.c", "pw"]"#);
        assert!(matches!(refused, Err(ApiError::Validation(e)) if e[0].field == "body"));
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        assert!(matches!(
            parse_json::<Login>(b"{\"email\": "),
            Err(ApiError::BadRequest {
                code: "malformed_json",
                ..
            })
        ));
        assert!(matches!(
            parse_json::<Login>(br#"{"email":"a","password":"b"} trailing"#),
            Err(ApiError::BadRequest { .. })
        ));
    }
}
