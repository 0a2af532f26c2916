//! Sessions: every login opens one. Access tokens name their session, so ending it ends
//! them; `/v1` logins also get a refresh token, which is spent on use and replaced.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use missive_store::{RefreshOutcome, SessionId, Timestamp, User};
use sha2::{Digest, Sha256};

use crate::auth::{IssuedToken, TokenSubject};
use crate::error::ApiError;
use crate::state::AppState;

/// Refresh tokens start with this, so secret scanners and people can tell what they are.
const REFRESH_PREFIX: &str = "mrt_";
/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT: usize = 256;

/// A new session's credentials.
pub struct Opened {
    pub session_id: SessionId,
    pub access: IssuedToken,
    pub refresh_token: Option<String>,
}

/// Whether a login also gets a refresh token (the compatibility faces' logins do not).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    With,
    Without,
}

pub async fn open(
    state: &AppState,
    user: &User,
    user_agent: Option<&str>,
    refresh: Refresh,
) -> Result<Opened, ApiError> {
    let refresh_token = (refresh == Refresh::With).then(new_refresh_token);
    let refresh_hash = refresh_token.as_deref().map(hash_refresh_token);
    // Without a refresh token, a session is over when its access token expires.
    let lifetime = match refresh {
        Refresh::With => state.config().session_idle,
        Refresh::Without => state.config().access_token_ttl,
    };
    let user_agent = user_agent.map(|agent| agent.chars().take(MAX_USER_AGENT).collect::<String>());
    let session = state
        .store()
        .create_session(
            user.id,
            user_agent.as_deref(),
            refresh_hash.as_deref(),
            Timestamp::now().plus(lifetime),
        )
        .await?;
    Ok(Opened {
        session_id: session.id,
        access: state.tokens().issue(TokenSubject {
            user_id: user.id,
            session_id: session.id,
        }),
        refresh_token,
    })
}

/// Why a refresh token was refused.
pub enum RefreshRefused {
    /// Unknown, malformed, or its session has ended.
    Invalid,
    /// Spent before: someone else holds a copy, so its session has been ended.
    Reused,
}

/// Spends a refresh token for a new access token and a new refresh token.
pub async fn refresh(
    state: &AppState,
    presented: &str,
) -> Result<Result<(User, Opened), RefreshRefused>, ApiError> {
    if !presented.starts_with(REFRESH_PREFIX) {
        return Ok(Err(RefreshRefused::Invalid));
    }
    let next = new_refresh_token();
    let outcome = state
        .store()
        .rotate_refresh_token(
            &hash_refresh_token(presented),
            &hash_refresh_token(&next),
            Timestamp::now().plus(state.config().session_idle),
        )
        .await?;
    let session = match outcome {
        RefreshOutcome::Rotated(session) => session,
        RefreshOutcome::Reused => {
            tracing::warn!("a spent refresh token was presented again; its session was ended");
            return Ok(Err(RefreshRefused::Reused));
        }
        RefreshOutcome::Unknown => return Ok(Err(RefreshRefused::Invalid)),
    };
    let Some(user) = state.store().user_by_id(session.user_id).await? else {
        return Ok(Err(RefreshRefused::Invalid));
    };
    let access = state.tokens().issue(TokenSubject {
        user_id: user.id,
        session_id: session.id,
    });
    let opened = Opened {
        session_id: session.id,
        access,
        refresh_token: Some(next),
    };
    Ok(Ok((user, opened)))
}

/// 256 random bits; unguessable, so a fast hash is enough to store it.
fn new_refresh_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_prefixed_random_and_hashed_stably() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert!(a.starts_with("mrt_") && a.len() == 4 + 43, "{a}");
        assert_ne!(a, b);
        assert_eq!(hash_refresh_token(&a), hash_refresh_token(&a));
        assert_eq!(hash_refresh_token(&a).len(), 64);
    }
}
