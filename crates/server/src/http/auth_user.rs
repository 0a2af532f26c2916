//! `AuthUser`: the caller of a protected route, proven by a bearer token whose session is
//! still open (so logging out, or deleting the user, ends the token at once). Missing
//! credentials and bad ones get the two messages the seed services use.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use missive_store::{SessionId, User};

use crate::auth::TokenSubject;
use crate::core::{Caller, CoreError};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

pub struct AuthUser {
    pub user: User,
    pub session_id: SessionId,
}

const NOT_AUTHENTICATED: ApiError = ApiError::Unauthorized {
    code: ErrorCode::NotAuthenticated,
    detail: "Not authenticated",
};

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(&parts.headers).ok_or(NOT_AUTHENTICATED)?;
        let core = state.core();
        // The rate limiter may have verified this very token already (extensions are ours
        // alone; no client can set them).
        let subject = match parts.extensions.get::<TokenSubject>() {
            Some(subject) => *subject,
            None => core
                .tokens()
                .verify(token)
                .map_err(|_| ApiError::from(CoreError::InvalidToken))?,
        };
        let Caller { user, session_id } = core.authenticate(subject).await?;
        Ok(Self { user, session_id })
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
