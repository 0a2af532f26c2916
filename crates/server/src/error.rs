//! `ApiError`: every failure a request can meet, and the one JSON body all faces answer with:
//! `{"detail": "...", "code": "..."}`, plus `errors` for validation failures.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use missive_store::{ConflictKind, Refusal};

use crate::core::CoreError;
pub use crate::core::input::{FieldError, Invalid, JsonSyntax, Loc, Problem};

/// Every `code` an error body can carry: one closed set, so that no code is spelt twice and
/// the OpenAPI document lists them all. Stable: clients branch on these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    ConversationClosed,
    ConversationNotFound,
    CurrentPasswordIncorrect,
    EmailTaken,
    Forbidden,
    GroupFull,
    IdempotencyKeyReused,
    InternalError,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidToken,
    MalformedJson,
    MemberNotFound,
    MessageDeleted,
    MessageNotFound,
    MethodNotAllowed,
    NoMessages,
    NotAGroup,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    NotMessageSender,
    NoticeUnchangeable,
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

    pub const fn unauthorized(code: ErrorCode, detail: &'static str) -> Self {
        Self::Unauthorized { code, detail }
    }

    pub const fn forbidden(code: ErrorCode, detail: &'static str) -> Self {
        Self::Forbidden { code, detail }
    }

    pub const fn conflict(code: ErrorCode, detail: &'static str) -> Self {
        Self::Conflict { code, detail }
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

impl From<Invalid> for ApiError {
    fn from(Invalid(errors): Invalid) -> Self {
        Self::Validation(errors)
    }
}

/// Every use-case failure, answered the way `/v1` and the Chat Service answer it. A route
/// with its own wording for one of them (its own 404, the Message Service's 400 for a taken
/// e-mail) matches that one first.
impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        use ErrorCode as C;
        match err {
            CoreError::NotFound => Self::not_found(C::NotFound, "Not Found"),
            CoreError::Invalid(invalid) => invalid.into(),
            CoreError::Taken(ConflictKind::Username) => {
                Self::conflict(C::UsernameTaken, "Username already exists")
            }
            CoreError::Taken(ConflictKind::Email) => {
                Self::conflict(C::EmailTaken, "Email already exists")
            }
            CoreError::InvalidCredentials => {
                Self::unauthorized(C::InvalidCredentials, "Invalid credentials")
            }
            CoreError::CurrentPasswordIncorrect => {
                Self::forbidden(C::CurrentPasswordIncorrect, "Current password is incorrect")
            }
            CoreError::InvalidToken => Self::unauthorized(C::InvalidToken, "Invalid token"),
            CoreError::InvalidRefreshToken => {
                Self::unauthorized(C::InvalidRefreshToken, "Invalid refresh token")
            }
            CoreError::RefreshTokenReused => Self::unauthorized(
                C::RefreshTokenReused,
                "Refresh token already used; the session has been ended",
            ),
            CoreError::NotSender => Self::forbidden(
                C::NotMessageSender,
                "Only the sender may change or delete a message for everyone",
            ),
            CoreError::MessageDeleted => {
                Self::conflict(C::MessageDeleted, "The message has been deleted")
            }
            CoreError::Notice => Self::conflict(
                C::NoticeUnchangeable,
                "A notice of a change to a group cannot be edited or deleted",
            ),
            CoreError::Refused(refusal) => refused(refusal),
            CoreError::ConversationClosed => Self::conflict(
                C::ConversationClosed,
                "The other member deleted their account: this conversation takes no new messages",
            ),
            CoreError::IdempotencyKeyReused => Self::Unprocessable {
                code: C::IdempotencyKeyReused,
                detail: "This Idempotency-Key was already used for a different request",
            },
            CoreError::Unavailable => Self::Unavailable,
            CoreError::Internal => Self::Internal,
        }
    }
}

/// A change to a group that its rules refuse.
fn refused(refusal: Refusal) -> ApiError {
    use ErrorCode as C;
    match refusal {
        Refusal::NotAGroup => ApiError::conflict(
            C::NotAGroup,
            "Only a group has members to add or remove, roles and a title",
        ),
        Refusal::NotAllowed => {
            ApiError::forbidden(C::NotAllowed, "Your role in this group does not allow this")
        }
        Refusal::NoSuchUser => ApiError::not_found(C::UserNotFound, "User not found"),
        Refusal::NoSuchMember => ApiError::not_found(C::MemberNotFound, "Member not found"),
        Refusal::Full => {
            ApiError::conflict(C::GroupFull, "The group has as many members as it may have")
        }
    }
}

/// Turns a use case's `NotFound` into the route's own 404 (or other answer), and anything
/// else into the usual mapping.
pub trait NotFoundAs<T> {
    fn not_found_as(self, err: ApiError) -> Result<T, ApiError>;
}

impl<T> NotFoundAs<T> for Result<T, CoreError> {
    fn not_found_as(self, not_found: ApiError) -> Result<T, ApiError> {
        self.map_err(|err| match err {
            CoreError::NotFound => not_found,
            other => other.into(),
        })
    }
}
