//! `ApiError`: every failure a request can meet, and the one JSON body all faces answer with:
//! `{"detail": "...", "code": "..."}`, plus `errors` for validation failures.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use missive_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Every `code` an error body can carry: one closed set, so that no code is spelt twice and
/// the OpenAPI document lists them all. Stable: clients branch on these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    Conflict,
    ConversationNotFound,
    CurrentPasswordIncorrect,
    EmailTaken,
    Forbidden,
    IdempotencyKeyReused,
    InternalError,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
    MalformedJson,
    MessageDeleted,
    MessageNotFound,
    MethodNotAllowed,
    NoMessages,
    NotAuthenticated,
    NotFound,
    NotMessageSender,
    PayloadTooLarge,
    RateLimited,
    RecipientNotFound,
    RefreshTokenReused,
    RequestTimeout,
    ServerError,
    ServiceUnavailable,
    SessionNotFound,
    UnreadableBody,
    UnsupportedMediaType,
    UserNotFound,
    UsernameTaken,
    ValidationFailed,
}

/// The error body of every face.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Human-readable message (what the seed services' clients read).
    #[schema(example = "Message not found")]
    pub detail: String,
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Per-field problems, on validation errors only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldMessage>,
}

/// One entry of `errors`: a field and what is wrong with it, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldMessage {
    pub field: String,
    pub message: String,
}

/// Where in the request a rejected value was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    Body,
    Query,
}

/// What is wrong with a value, as data rather than words, so that each face can say it its
/// own way: `/v1` in short sentences, the compatibility faces as FastAPI would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Missing,
    NotString,
    NotInteger,
    /// A JSON number with a fraction where an integer belongs.
    Fractional,
    /// Text that is not an integer where one belongs (a query parameter, a string id).
    NotIntegerText,
    /// The body is JSON but not an object.
    NotObject,
    /// Some other JSON type than the one expected (serde's wording of it).
    WrongType(String),
    /// Text outside `min..=max` characters, too short or too long.
    TooShort {
        min: usize,
        max: usize,
    },
    TooLong {
        min: usize,
        max: usize,
    },
    /// A number below `min` or above `max`.
    Below {
        min: i64,
        max: Option<i64>,
    },
    Above {
        min: i64,
        max: i64,
    },
    /// Characters outside an alphabet, described by a regular expression.
    Pattern {
        pattern: &'static str,
        words: &'static str,
    },
    /// Not an e-mail address; `reason` says why, in email-validator's words.
    Email {
        reason: String,
    },
    /// A NUL character, which no text column can store.
    Nul,
    /// The body is not JSON at all.
    Json(JsonSyntax),
    /// A rule of our own, in words (`/v1`'s cursors, headers and the like).
    Invalid(String),
}

/// Where and how a body stopped being JSON. `offset` is the byte where the parser gave up;
/// `reason` is Python's wording of the problem (what the seeds' clients saw).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonSyntax {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
    pub reason: &'static str,
    /// The body was empty: FastAPI then says the body is missing rather than malformed.
    pub empty: bool,
}

/// A rejected value: where it was, its name (`None` for the body as a whole) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub loc: Loc,
    pub field: Option<String>,
    pub problem: Problem,
}

impl FieldError {
    /// A body field with a problem.
    pub fn body(field: impl Into<String>, problem: Problem) -> Self {
        Self {
            loc: Loc::Body,
            field: Some(field.into()),
            problem,
        }
    }

    /// A query parameter with a problem.
    pub fn query(field: impl Into<String>, problem: Problem) -> Self {
        Self {
            loc: Loc::Query,
            field: Some(field.into()),
            problem,
        }
    }

    /// The body as a whole.
    pub fn whole_body(problem: Problem) -> Self {
        Self {
            loc: Loc::Body,
            field: None,
            problem,
        }
    }

    /// A field that breaks a rule of our own, said in words.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::body(field, Problem::Invalid(message.into()))
    }

    /// The field's name as `/v1` reports it.
    pub fn name(&self) -> &str {
        self.field.as_deref().unwrap_or("body")
    }

    /// What is wrong, in `/v1`'s words. Never the rejected value.
    pub fn message(&self) -> String {
        match &self.problem {
            Problem::Missing => "field required".into(),
            Problem::NotString => "invalid value: expected a string".into(),
            Problem::NotInteger | Problem::Fractional | Problem::NotIntegerText => {
                "invalid value: expected an integer".into()
            }
            Problem::NotObject => "must be a JSON object".into(),
            Problem::WrongType(expected) => format!("invalid value: expected {expected}"),
            Problem::TooShort { min, max } | Problem::TooLong { min, max } => {
                format!("must be {min} to {max} characters")
            }
            Problem::Below { min, max: None } => format!("must be {min} or more"),
            Problem::Below {
                min,
                max: Some(max),
            }
            | Problem::Above { min, max } => {
                format!("must be {min} to {max}")
            }
            Problem::Pattern { words, .. } => (*words).into(),
            Problem::Email { .. } => "must be a valid e-mail address".into(),
            Problem::Nul => "must not contain NUL characters (\\u0000)".into(),
            Problem::Json(syntax) => format!(
                "malformed JSON at line {} column {}",
                syntax.line, syntax.column
            ),
            Problem::Invalid(message) => message.clone(),
        }
    }
}

/// The typed cause of a refused request body or query, left on the response so that a face
/// with its own wording of such errors can re-render them (see `http::compat::fastapi`).
#[derive(Clone, Debug)]
pub struct InputRejected(pub Vec<FieldError>);

#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not JSON, or is not the JSON we can read.
    BadRequest { code: ErrorCode, detail: String },
    /// 401, with `WWW-Authenticate: Bearer`.
    Unauthorized {
        code: ErrorCode,
        detail: &'static str,
    },
    /// 403: the caller may see the object but not do this to it.
    Forbidden {
        code: ErrorCode,
        detail: &'static str,
    },
    /// 404, with the route's own message.
    NotFound {
        code: ErrorCode,
        detail: &'static str,
    },
    /// 409, with the route's own message.
    Conflict {
        code: ErrorCode,
        detail: &'static str,
    },
    /// 413.
    PayloadTooLarge,
    /// 400: the body is not JSON.
    MalformedJson(JsonSyntax),
    /// 415.
    UnsupportedMediaType,
    /// 422, one entry per field.
    Validation(Vec<FieldError>),
    /// 422 about the request as a whole rather than one field, with the route's own code.
    Unprocessable {
        code: ErrorCode,
        detail: &'static str,
    },
    /// 429, with `Retry-After`: the route's rate limit is used up.
    RateLimited {
        detail: &'static str,
        retry_after_secs: u64,
    },
    /// 503: a dependency (the database) is unreachable; the client may retry.
    Unavailable,
    /// 500: a bug. The cause was logged where it happened; the body says nothing of it.
    Internal,
}

impl ApiError {
    pub const fn not_found(code: ErrorCode, detail: &'static str) -> Self {
        Self::NotFound { code, detail }
    }

    /// 400: the body broke off before it was whole (the client is likely gone).
    pub fn unreadable_body() -> Self {
        Self::BadRequest {
            code: ErrorCode::UnreadableBody,
            detail: "Could not read the request body".into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The typed input problems behind this error, if it is about the request's shape.
    fn rejected_input(&self) -> Option<InputRejected> {
        let errors = match self {
            Self::Validation(errors) => errors.clone(),
            Self::MalformedJson(syntax) => {
                vec![FieldError::whole_body(Problem::Json(syntax.clone()))]
            }
            // A body of another type is read as the raw text, which is no object.
            Self::UnsupportedMediaType => vec![FieldError::whole_body(Problem::NotObject)],
            _ => return None,
        };
        Some(InputRejected(errors))
    }

    fn into_body(self) -> ErrorBody {
        let (code, detail, errors) = match self {
            Self::BadRequest { code, detail } => (code, detail, Vec::new()),
            Self::MalformedJson(syntax) => (
                ErrorCode::MalformedJson,
                format!(
                    "Malformed JSON at line {} column {}",
                    syntax.line, syntax.column
                ),
                Vec::new(),
            ),
            Self::Unauthorized { code, detail }
            | Self::Forbidden { code, detail }
            | Self::NotFound { code, detail }
            | Self::Conflict { code, detail }
            | Self::Unprocessable { code, detail } => (code, detail.to_owned(), Vec::new()),
            Self::PayloadTooLarge => (
                ErrorCode::PayloadTooLarge,
                "Request body too large".into(),
                vec![],
            ),
            Self::UnsupportedMediaType => (
                ErrorCode::UnsupportedMediaType,
                "Expected a JSON body with Content-Type: application/json".into(),
                Vec::new(),
            ),
            Self::Validation(errors) => {
                let errors: Vec<FieldMessage> = errors
                    .iter()
                    .map(|e| FieldMessage {
                        field: e.name().to_owned(),
                        message: e.message(),
                    })
                    .collect();
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                (ErrorCode::ValidationFailed, detail, errors)
            }
            Self::RateLimited { detail, .. } => {
                (ErrorCode::RateLimited, detail.to_owned(), Vec::new())
            }
            Self::Unavailable => (
                ErrorCode::ServiceUnavailable,
                "Service temporarily unavailable, try again shortly".into(),
                Vec::new(),
            ),
            Self::Internal => (
                ErrorCode::InternalError,
                "Internal server error".into(),
                Vec::new(),
            ),
        };
        ErrorBody {
            detail,
            code,
            errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            Self::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let rejected = self.rejected_input();
        let mut response = (status, axum::Json(self.into_body())).into_response();
        if let Some(rejected) = rejected {
            response.extensions_mut().insert(rejected);
        }
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The generic answer for a status with no route-specific message (used for framework
/// rejections and by the safety net that makes every error body JSON).
pub fn body_for_status(status: StatusCode) -> ErrorBody {
    let code = match status {
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::RequestTimeout,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::ServiceUnavailable,
        StatusCode::INTERNAL_SERVER_ERROR => ErrorCode::InternalError,
        s if s.is_client_error() => ErrorCode::BadRequest,
        _ => ErrorCode::ServerError,
    };
    ErrorBody {
        detail: status
            .canonical_reason()
            .unwrap_or("Request failed")
            .to_owned(),
        code,
        errors: Vec::new(),
    }
}

/// A single bad field is a 422 of its own.
impl From<FieldError> for ApiError {
    fn from(err: FieldError) -> Self {
        Self::Validation(vec![err])
    }
}

/// Store failures that a handler did not turn into something specific.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::not_found(ErrorCode::NotFound, "Not Found"),
            StoreError::Conflict(kind) => {
                tracing::warn!(?kind, "unhandled store conflict");
                Self::Conflict {
                    code: ErrorCode::Conflict,
                    detail: "Conflict",
                }
            }
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::Unavailable
            }
            StoreError::Other(cause) => {
                tracing::error!(error = %cause, "database error");
                Self::Internal
            }
        }
    }
}

/// Turns the store's `NotFound` into the route's own 404, and anything else into the usual
/// mapping.
pub trait NotFoundAs<T> {
    fn not_found_as(self, err: ApiError) -> Result<T, ApiError>;
}

impl<T> NotFoundAs<T> for Result<T, StoreError> {
    fn not_found_as(self, not_found: ApiError) -> Result<T, ApiError> {
        self.map_err(|err| match err {
            StoreError::NotFound => not_found,
            other => other.into(),
        })
    }
}
