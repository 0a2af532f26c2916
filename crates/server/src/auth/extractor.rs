//! `AuthUser`: the caller of a protected route, proven by a bearer token whose user still
//! exists. Missing credentials and bad ones get the two messages the seed services use.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use missive_store::User;

use crate::error::ApiError;
use crate::state::AppState;

pub struct AuthUser(pub User);

const NOT_AUTHENTICATED: ApiError = ApiError::Unauthorized {
    code: "not_authenticated",
    detail: "Not authenticated",
};
const INVALID_TOKEN: ApiError = ApiError::Unauthorized {
    code: "invalid_token",
    detail: "Invalid token",
};

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or(NOT_AUTHENTICATED)?;
        let value = header.to_str().map_err(|_| NOT_AUTHENTICATED)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(NOT_AUTHENTICATED)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(NOT_AUTHENTICATED);
        }
        let user_id = state
            .tokens()
            .verify(token.trim())
            .map_err(|_| INVALID_TOKEN)?;
        // A token outlives nothing: if its user was deleted, it stops working.
        let user = state
            .store()
            .user_by_id(user_id)
            .await?
            .ok_or(INVALID_TOKEN)?;
        Ok(Self(user))
    }
}
