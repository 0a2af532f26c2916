//! `ApiError`: every failure a request can meet, and the one JSON body all faces answer with:
//! `{"detail": "...", "code": "..."}`, plus `errors` for validation failures.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use missive_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The error body of every face.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Human-readable message (what the seed services' clients read).
    #[schema(example = "Message not found")]
    pub detail: String,
    /// Stable machine-readable code.
    #[schema(example = "message_not_found")]
    pub code: &'static str,
    /// Per-field problems, on validation errors only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not JSON, or is not the JSON we can read.
    BadRequest { code: &'static str, detail: String },
    /// 401, with `WWW-Authenticate: Bearer`.
    Unauthorized {
        code: &'static str,
        detail: &'static str,
    },
    /// 403: the caller may see the object but not do this to it.
    Forbidden {
        code: &'static str,
        detail: &'static str,
    },
    /// 404, with the route's own message.
    NotFound {
        code: &'static str,
        detail: &'static str,
    },
    /// 409, with the route's own message.
    Conflict {
        code: &'static str,
        detail: &'static str,
    },
    /// 413.
    PayloadTooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 422, one entry per field.
    Validation(Vec<FieldError>),
    /// 422 about the request as a whole rather than one field, with the route's own code.
    Unprocessable {
        code: &'static str,
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
    pub const fn not_found(code: &'static str, detail: &'static str) -> Self {
        Self::NotFound { code, detail }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
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

    fn into_body(self) -> ErrorBody {
        let (code, detail, errors) = match self {
            Self::BadRequest { code, detail } => (code, detail, Vec::new()),
            Self::Unauthorized { code, detail }
            | Self::Forbidden { code, detail }
            | Self::NotFound { code, detail }
            | Self::Conflict { code, detail }
            | Self::Unprocessable { code, detail } => (code, detail.to_owned(), Vec::new()),
            Self::PayloadTooLarge => ("payload_too_large", "Request body too large".into(), vec![]),
            Self::UnsupportedMediaType => (
                "unsupported_media_type",
                "Expected a JSON body with Content-Type: application/json".into(),
                Vec::new(),
            ),
            Self::Validation(errors) => {
                let detail = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                ("validation_failed", detail, errors)
            }
            Self::RateLimited { detail, .. } => ("rate_limited", detail.to_owned(), Vec::new()),
            Self::Unavailable => (
                "service_unavailable",
                "Service temporarily unavailable, try again shortly".into(),
                Vec::new(),
            ),
            Self::Internal => ("internal_error", "Internal server error".into(), Vec::new()),
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
        let mut response = (status, axum::Json(self.into_body())).into_response();
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
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        StatusCode::INTERNAL_SERVER_ERROR => "internal_error",
        s if s.is_client_error() => "bad_request",
        _ => "server_error",
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
            StoreError::NotFound => Self::not_found("not_found", "Not Found"),
            StoreError::Conflict(kind) => {
                tracing::warn!(?kind, "unhandled store conflict");
                Self::Conflict {
                    code: "conflict",
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
