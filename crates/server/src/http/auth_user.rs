//! `AuthUser`: the caller of a protected route, proven by a bearer token whose session is
//! still open (so logging out, or deleting the user, ends the token at once). Missing
//! credentials and bad ones get the two messages the seed services use.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use missive_store::{SessionId, Timestamp, User};

use crate::auth::TokenSubject;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

pub struct AuthUser {
    pub user: User,
    pub session_id: SessionId,
}

/// A session's "last used" time is written at most this often, not on every request.
const SESSION_USE_RESOLUTION_MICROS: i64 = 60_000_000;

const NOT_AUTHENTICATED: ApiError = ApiError::Unauthorized {
    code: ErrorCode::NotAuthenticated,
    detail: "Not authenticated",
};
const INVALID_TOKEN: ApiError = ApiError::Unauthorized {
    code: ErrorCode::InvalidToken,
    detail: "Invalid token",
};

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or(NOT_AUTHENTICATED)?;
        // The rate limiter may have verified this very token already (extensions are ours
        // alone; no client can set them).
        let subject = match parts.extensions.get::<TokenSubject>() {
            Some(subject) => *subject,
            None => state.tokens().verify(token).map_err(|_| INVALID_TOKEN)?,
        };
        // One query (none once cached: see `cache::CachedStore::session_user`): the session
        // must still be open and its user still exist.
        let found = state
            .store()
            .session_user(subject.session_id, subject.user_id)
            .await?
            .ok_or(INVALID_TOKEN)?;
        if Timestamp::now().0 - found.session_last_used_at.0 > SESSION_USE_RESOLUTION_MICROS {
            record_use(state, subject.session_id);
        }
        Ok(Self {
            user: found.user,
            session_id: subject.session_id,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Records the session's use off the request path: a lost update only makes "last used" a
/// minute staler.
fn record_use(state: &AppState, session_id: SessionId) {
    let state = state.clone();
    state.tasks().clone().spawn(async move {
        if let Err(err) = state.store().touch_session(session_id).await {
            tracing::debug!(error = %err, "could not record session use");
        }
    });
}
