//! Our own `Json` and `Query` extractors, so malformed input gets the same JSON error body as
//! everything else, and a rejected value (a password, say) is never echoed back.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError, JsonSyntax, Loc, Problem};

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
                    _ => ApiError::unreadable_body(),
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

/// Deserializes a body: syntax errors are [`ApiError::MalformedJson`], type and shape errors
/// are 422 naming the field. Every body we take is a JSON object, and no string in it may hold
/// a NUL character (text columns cannot store one, and no user means to send one).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(FieldError::whole_body(Problem::NotObject).into());
    }
    if has_nul_escape(bytes) {
        return Err(FieldError::whole_body(Problem::Nul).into());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        // A body that is not JSON at all is malformed, whatever a field's value made serde
        // stop at first (FastAPI parses the whole body before it validates any field).
        let syntax = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).err();
        match (inner.classify(), syntax) {
            (serde_json::error::Category::Data, None) => {
                ApiError::Validation(vec![data_error(Loc::Body, &path, &inner.to_string())])
            }
            (_, syntax) => malformed(bytes, syntax.as_ref().unwrap_or(&inner)),
        }
    })?;
    // Trailing bytes after the value make the whole body malformed.
    deserializer.end().map_err(|err| malformed(bytes, &err))?;
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

fn malformed(bytes: &[u8], err: &serde_json::Error) -> ApiError {
    let (line, column) = (err.line(), err.column());
    // serde_json stops on the offending byte, or after the last one at the end of the input.
    let line_start: usize = bytes
        .split(|b| *b == b'\n')
        .take(line.saturating_sub(1))
        .map(|l| l.len() + 1)
        .sum();
    let offset = if err.is_eof() {
        bytes.len()
    } else {
        (line_start + column).saturating_sub(1).min(bytes.len())
    };
    ApiError::MalformedJson(JsonSyntax {
        offset,
        line,
        column,
        reason: python_reason(err),
        empty: bytes.is_empty(),
    })
}

/// Python's `json` module's words for the problem serde_json found, which is what the seeds'
/// clients were told. serde_json says it as `<what> at line L column C`.
fn python_reason(err: &serde_json::Error) -> &'static str {
    let text = err.to_string();
    let what = text.split(" at line ").next().unwrap_or_default();
    match what {
        "EOF while parsing a string" => "Unterminated string starting at",
        "expected `:`" => "Expecting ':' delimiter",
        "expected `,` or `}`" | "expected `,` or `]`" | "EOF while parsing a list" => {
            "Expecting ',' delimiter"
        }
        "key must be a string" | "trailing comma" | "EOF while parsing an object" => {
            "Expecting property name enclosed in double quotes"
        }
        "trailing characters" => "Extra data",
        "invalid escape" => "Invalid \\escape",
        "control character (\\u0000-\\u001F) found while parsing a string" => {
            "Invalid control character at"
        }
        _ if what.contains("escape") || what.contains("code point") => "Invalid \\uXXXX escape",
        _ => "Expecting value",
    }
}

/// Says what is wrong with the value at `path` (serde_path_to_error's, `.` for the top level)
/// from serde's `message`, without the value itself: serde quotes it ("invalid type: string
/// \"hunter2\", expected ..."), so only the kind of value and the expectation are read.
fn data_error(loc: Loc, path: &str, message: &str) -> FieldError {
    let at = |name: &str| {
        let field = match path {
            "." | "" => name.to_owned(),
            _ if name.is_empty() => path.to_owned(),
            _ => format!("{path}.{name}"),
        };
        FieldError {
            loc,
            field: Some(field),
            problem: Problem::Missing,
        }
    };
    if let Some(name) = missing_field(message) {
        return at(name);
    }
    let problem = classify(message);
    match path {
        "." | "" => FieldError {
            loc,
            field: None,
            problem,
        },
        _ => FieldError { problem, ..at("") },
    }
}

/// The problem a serde data error names (other than a missing field).
fn classify(message: &str) -> Problem {
    let message = message.split(" at line ").next().unwrap_or(message);
    // Numbers in text (query strings): std's integer parsing errors.
    if message.contains("invalid digit")
        || message.contains("integer from empty string")
        || message.contains("fit in target type")
    {
        return Problem::NotIntegerText;
    }
    let rest = message.strip_prefix("invalid type: ");
    let Some(rest) = rest.or_else(|| message.strip_prefix("invalid value: ")) else {
        return Problem::WrongType(message.to_owned());
    };
    // The last separator: the value quoted before it is the client's and may contain one.
    let (unexpected, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
    let fractional = unexpected.starts_with("floating point") && !unexpected.ends_with(".0`");
    match expected {
        "a string" => Problem::NotString,
        _ if expected.contains("integer") || expected == "i64" => {
            if fractional {
                Problem::Fractional
            } else {
                Problem::NotInteger
            }
        }
        _ => Problem::WrongType(expected.to_owned()),
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

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs = form_urlencoded_pairs(query);
        serde_path_to_error::deserialize(pairs)
            .map(Query)
            .map_err(|err| {
                let path = err.path().to_string();
                // Query values are never secrets, but the message names only the parameter.
                ApiError::from(data_error(Loc::Query, &path, &err.into_inner().to_string()))
            })
    }
}

fn form_urlencoded_pairs(query: &str) -> serde_urlencoded::Deserializer<'_> {
    serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()))
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
            vec![FieldError::body("password", Problem::Missing)]
        );
    }

    #[test]
    fn a_rejected_value_is_never_echoed() {
        let errors = errors_of(r#"{"email": "a@b.c", "password": 1234567890}"#);
        assert_eq!(
            errors,
            vec![FieldError::body("password", Problem::NotString)]
        );
        assert!(!errors[0].message().contains("1234567890"), "{errors:?}");
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
        let whole = FieldError::whole_body(Problem::NotObject);
        assert!(matches!(refused, Err(ApiError::Validation(e)) if e == [whole]));
    }

    fn syntax_of(body: &str) -> JsonSyntax {
        match parse_json::<Login>(body.as_bytes()) {
            Err(ApiError::MalformedJson(syntax)) => syntax,
            other => panic!("expected malformed JSON, got {other:?}"),
        }
    }

    #[test]
    fn broken_json_says_where_and_why_as_python_would() {
        let cut = syntax_of("{\"email\": ");
        assert_eq!((cut.offset, cut.reason), (10, "Expecting value"));
        let bare_key = syntax_of("{\n email: 1}");
        let reason = "Expecting property name enclosed in double quotes";
        assert_eq!((bare_key.offset, bare_key.reason), (3, reason));
        let trailing = syntax_of(r#"{"email":"a","password":"b"} trailing"#);
        assert_eq!((trailing.offset, trailing.reason), (29, "Extra data"));
        assert!(syntax_of("").empty && !syntax_of(" ").empty);
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Page {
        peer_id: i64,
        limit: Option<i64>,
    }

    fn query_error(query: &str) -> FieldError {
        let pairs = form_urlencoded_pairs(query);
        let err = serde_path_to_error::deserialize::<_, Page>(pairs).unwrap_err();
        data_error(
            Loc::Query,
            &err.path().to_string(),
            &err.into_inner().to_string(),
        )
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert_eq!(
            query_error("limit=5"),
            FieldError::query("peer_id", Problem::Missing)
        );
        for query in ["peer_id=abc", "peer_id=", "peer_id=99999999999999999999"] {
            let expected = FieldError::query("peer_id", Problem::NotIntegerText);
            assert_eq!(query_error(query), expected, "{query}");
        }
        assert_eq!(
            query_error("peer_id=1&limit=1.5"),
            FieldError::query("limit", Problem::NotIntegerText)
        );
    }
}
