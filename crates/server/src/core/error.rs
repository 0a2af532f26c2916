//! `CoreError`: every way a use case can fail, one closed set. `http` maps it to its answers
//! with an exhaustive match, so a new failure cannot reach a client unmapped.

use missive_store::{ConflictKind, Refusal, StoreError};

use super::input::Invalid;
use crate::auth::PasswordError;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoreError {
    /// No such object, or one the caller may not know exists (never "forbidden": a
    /// non-member learns nothing).
    #[error("not found")]
    NotFound,
    /// Input a use case checks itself (where the answer depends on what the caller may see).
    #[error("invalid input")]
    Invalid(Invalid),
    #[error("{0:?} already taken")]
    Taken(ConflictKind),
    /// Unknown account or wrong password: never says which.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("current password incorrect")]
    CurrentPasswordIncorrect,
    /// An access token that is forged, expired, or whose session has ended.
    #[error("invalid token")]
    InvalidToken,
    /// Unknown, malformed, or its session has ended.
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    /// Spent before: someone else holds a copy, so its session has been ended.
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("not the message's sender")]
    NotSender,
    #[error("message deleted")]
    MessageDeleted,
    /// A group's notice of a change: nobody edits or deletes it.
    #[error("notices cannot be changed")]
    Notice,
    /// A change to a group that its rules refuse.
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// A direct conversation whose other member deleted their account.
    #[error("conversation closed")]
    ConversationClosed,
    #[error("idempotency key reused for another request")]
    IdempotencyKeyReused,
    /// The database is unreachable, or password hashing is saturated: retry shortly.
    #[error("unavailable")]
    Unavailable,
    /// A bug or a broken dependency; already logged where it happened.
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for CoreError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(kind) => Self::Taken(kind),
            StoreError::Closed => Self::ConversationClosed,
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

impl From<PasswordError> for CoreError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Busy => Self::Unavailable,
            PasswordError::Failed => Self::Internal,
        }
    }
}
