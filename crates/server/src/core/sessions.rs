//! Sessions: every login opens one. Access tokens name their session, so ending it ends
//! them; `/v1` logins also get a refresh token, which is spent on use and replaced.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use missive_store::prelude::*;
use missive_store::{
    RefreshOutcome, Session, SessionId, SessionUser, StoreError, Timestamp, User, UserId,
};
use sha2::{Digest, Sha256};

use super::{Core, CoreError};
use crate::auth::{IssuedToken, TokenSubject};
use crate::cache::{EPOCH, SessionUserDto, session_key, user_gen};

/// Refresh tokens start with this, so secret scanners and people can tell what they are.
const REFRESH_PREFIX: &str = "mrt_";
/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT: usize = 256;
/// A session's "last used" time is written at most this often, not on every request.
const SESSION_USE_RESOLUTION_MICROS: i64 = 60_000_000;

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

/// The session a login or registration opens.
pub struct NewSession<'a> {
    /// The client's `User-Agent`, kept (shortened) to tell sessions apart.
    pub user_agent: Option<&'a str>,
    pub refresh: Refresh,
}

/// Who is calling: the user of an open session.
pub struct Caller {
    pub user: User,
    pub session_id: SessionId,
}

impl Core {
    pub(super) async fn open_session(
        &self,
        user: &User,
        NewSession {
            user_agent,
            refresh,
        }: NewSession<'_>,
    ) -> Result<Opened, CoreError> {
        let refresh_token = (refresh == Refresh::With).then(new_refresh_token);
        let refresh_hash = refresh_token.as_deref().map(hash_refresh_token);
        // Without a refresh token, a session is over when its access token expires.
        let lifetime = match refresh {
            Refresh::With => self.0.policy.session_idle,
            Refresh::Without => self.0.policy.access_token_ttl,
        };
        let user_agent =
            user_agent.map(|agent| agent.chars().take(MAX_USER_AGENT).collect::<String>());
        let written = self
            .store()
            .create_session(
                user.id,
                user_agent.as_deref(),
                refresh_hash.as_deref(),
                Timestamp::now().plus(lifetime),
            )
            .await;
        // The account was disabled or deleted while its password was being checked.
        let session = match self.commit(written).await {
            Err(CoreError::NotFound) => return Err(CoreError::InvalidCredentials),
            other => other?,
        };
        Ok(Opened {
            session_id: session.id,
            access: self.tokens().issue(TokenSubject {
                user_id: user.id,
                session_id: session.id,
            }),
            refresh_token,
        })
    }

    /// Spends a refresh token for a new access token and a new refresh token.
    pub async fn refresh_session(&self, presented: &str) -> Result<(User, Opened), CoreError> {
        if !presented.starts_with(REFRESH_PREFIX) {
            return Err(CoreError::InvalidRefreshToken);
        }
        let next = new_refresh_token();
        let written = self
            .store()
            .rotate_refresh_token(
                &hash_refresh_token(presented),
                &hash_refresh_token(&next),
                Timestamp::now().plus(self.0.policy.session_idle),
            )
            .await;
        let session = match self.commit(written).await? {
            RefreshOutcome::Rotated(session) => session,
            RefreshOutcome::Reused => {
                tracing::warn!("a spent refresh token was presented again; its session was ended");
                return Err(CoreError::RefreshTokenReused);
            }
            RefreshOutcome::Unknown => return Err(CoreError::InvalidRefreshToken),
        };
        let user = self
            .store()
            .user_by_id(session.user_id)
            .await?
            .ok_or(CoreError::InvalidRefreshToken)?;
        let access = self.tokens().issue(TokenSubject {
            user_id: user.id,
            session_id: session.id,
        });
        let opened = Opened {
            session_id: session.id,
            access,
            refresh_token: Some(next),
        };
        Ok((user, opened))
    }

    /// The caller behind an access token: its signature and expiry checked, then its
    /// session, which must still be open (one query, none once cached).
    pub async fn authenticate(&self, subject: TokenSubject) -> Result<Caller, CoreError> {
        let found = self
            .session_user(subject.session_id, subject.user_id)
            .await?;
        let found = found.ok_or(CoreError::InvalidToken)?;
        if Timestamp::now().0 - found.session_last_used_at.0 > SESSION_USE_RESOLUTION_MICROS {
            self.record_use(subject.session_id);
        }
        Ok(Caller {
            user: found.user,
            session_id: subject.session_id,
        })
    }

    /// The token check, cached. A cached entry's `session_last_used_at` may be up to
    /// `ENTRY_TTL` older than the database's: it only decides whether to record a use (at most
    /// once a minute), so that costs at most an extra touch, which drops the entry anyway.
    /// Likewise a session that reaches its expiry time is still accepted for at most
    /// `ENTRY_TTL` (ending one, by logout or otherwise, takes effect at once).
    async fn session_user(
        &self,
        session: SessionId,
        user: UserId,
    ) -> Result<Option<SessionUser>, StoreError> {
        let found = crate::cache::read_through(
            self.cache(),
            session_key(session),
            vec![EPOCH.to_owned(), user_gen(user)],
            |found: &SessionUserDto| found.user.id() == user,
            || async {
                let found = self.store().session_user(session, user).await?;
                Ok(found.map(SessionUserDto::from))
            },
        )
        .await?;
        Ok(found.map(SessionUser::from))
    }

    /// Records the session's use off the request path: a lost update only makes "last used"
    /// a minute staler.
    fn record_use(&self, session: SessionId) {
        let core = self.clone();
        self.0.tasks.spawn(async move {
            // Not through `commit`: a failed touch changed nothing worth retiring the whole
            // cache for (the entry it would refresh simply stays until it expires).
            match core.store().touch_session(session).await {
                Ok(changes) => core.after_commit(&changes).await,
                Err(err) => tracing::debug!(error = %err, "could not record session use"),
            }
        });
    }

    /// Ends the caller's own session. Ending one another request has just ended (a
    /// logout-all, say) is done, not an error.
    pub async fn log_out(&self, session: SessionId, user: UserId) -> Result<(), CoreError> {
        match self.end_session(session, user).await {
            Ok(()) | Err(CoreError::NotFound) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Ends one of the user's open sessions (`NotFound` if it is not theirs or not open).
    pub async fn end_session(&self, session: SessionId, user: UserId) -> Result<(), CoreError> {
        let written = self.store().end_session(session, user).await;
        self.commit(written.map(|changes| ((), changes))).await
    }

    /// Ends every session of the user.
    pub async fn end_all_sessions(&self, user: UserId) -> Result<(), CoreError> {
        let written = self.store().end_other_sessions(user, None).await;
        self.commit(written).await.map(drop)
    }

    pub async fn open_sessions(&self, user: UserId) -> Result<Vec<Session>, CoreError> {
        Ok(self.store().list_sessions(user).await?)
    }
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
