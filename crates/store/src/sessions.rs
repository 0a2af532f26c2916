//! Login sessions and their rotating refresh tokens (stored only as hashes).

use crate::ids::{SessionId, UserId};
use crate::pool::{Begin, on_pool, on_writer};
use crate::sql::Dialect;
use crate::{
    AccountChange, Change, Changes, RefreshOutcome, Session, SessionUser, SqlStore, StoreError,
    Timestamp,
};

// Only for an account that may log in: a login whose password check overlapped a disable or
// a deletion opens nothing. On PostgreSQL the account's row is share-locked until commit, so
// a disable (which updates it, then ends every session) waits for this session and ends it.
macro_rules! insert_session {
    ($lock:literal) => {
        concat!(
            "INSERT INTO sessions (user_id, user_agent, created_at, last_used_at, expires_at) \
             SELECT id, $2, $3, $3, $4 FROM users \
             WHERE id = $1 AND disabled_at IS NULL AND deleted_at IS NULL",
            $lock,
            " RETURNING id, user_id, user_agent, created_at, last_used_at, expires_at"
        )
    };
}
const INSERT_SESSION: &str = insert_session!("");
const INSERT_SESSION_PG: &str = insert_session!(" FOR SHARE");
const INSERT_REFRESH: &str =
    "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)";
// The user behind an access token, if its session is still open: one round trip per request.
const AUTHENTICATE: &str = "SELECT u.id, u.username, u.email, u.full_name, u.password_hash, \
    u.created_at, u.last_active_at, s.last_used_at AS session_last_used_at \
    FROM sessions s JOIN users u ON u.id = s.user_id \
    WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > $3 \
    AND u.disabled_at IS NULL AND u.deleted_at IS NULL";
const TOUCH_SESSION: &str = "UPDATE sessions SET last_used_at = $2 WHERE id = $1 RETURNING user_id";
// Using a refresh token spends it; only an unspent token of an open session rotates.
const SPEND_REFRESH: &str = "UPDATE refresh_tokens SET rotated_at = $2 \
    WHERE token_hash = $1 AND rotated_at IS NULL RETURNING session_id";
// Refreshing keeps an open session open for another idle period.
const USE_SESSION: &str = "UPDATE sessions SET last_used_at = $2, expires_at = $3 \
    WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 \
    AND EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id \
        AND u.disabled_at IS NULL AND u.deleted_at IS NULL) \
    RETURNING id, user_id, user_agent, created_at, last_used_at, expires_at";
const SPENT_TOKEN_SESSION: &str = "SELECT session_id FROM refresh_tokens WHERE token_hash = $1";
// Ends a session that is still open: one that expired meanwhile is not "ended by theft".
const REVOKE_BY_ID: &str = "UPDATE sessions SET revoked_at = $2 \
    WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING user_id";
const REVOKE_OWN: &str = "UPDATE sessions SET revoked_at = $3 \
    WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL";
pub(crate) const REVOKE_OTHERS: &str = "UPDATE sessions SET revoked_at = $3 \
    WHERE user_id = $1 AND id <> $2 AND revoked_at IS NULL";
const LIST_OPEN: &str = "SELECT id, user_id, user_agent, created_at, last_used_at, expires_at \
    FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
    ORDER BY last_used_at DESC, id DESC";
// Ended sessions are kept a while (so a late reuse of their refresh tokens is still
// recognised), then deleted with their tokens.
const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1";

/// Login sessions and their refresh tokens.
#[allow(async_fn_in_trait)] // used through `SqlStore` itself, never as `dyn` or generically
pub trait SessionStore {
    /// Opens a session until `expires_at`, with its first refresh token (a hash) if any.
    async fn create_session(
        &self,
        user_id: UserId,
        user_agent: Option<&str>,
        refresh_hash: Option<&str>,
        expires_at: Timestamp,
    ) -> Result<(Session, Changes), StoreError>;
    /// The user of an open session (`None` once it has ended or the user is gone).
    async fn session_user(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<Option<SessionUser>, StoreError>;
    /// Records that the session was used now.
    async fn touch_session(&self, session_id: SessionId) -> Result<Changes, StoreError>;
    /// Spends a refresh token for a new one and keeps the session open until `expires_at`;
    /// a token spent before ends its session.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        expires_at: Timestamp,
    ) -> Result<(RefreshOutcome, Changes), StoreError>;
    /// Ends one of the user's open sessions (`NotFound` if it is not theirs or not open).
    async fn end_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<Changes, StoreError>;
    /// Ends all of the user's open sessions except `keep`; returns how many ended.
    async fn end_other_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> Result<(u64, Changes), StoreError>;
    /// The user's open sessions, most recently used first.
    async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError>;
    /// Deletes sessions that expired or ended before `before` (which no token is accepted
    /// for any more, so nothing observable changes); returns how many.
    async fn purge_sessions(&self, before: Timestamp) -> Result<u64, StoreError>;
}

impl SessionStore for SqlStore {
    async fn create_session(
        &self,
        user_id: UserId,
        user_agent: Option<&str>,
        refresh_hash: Option<&str>,
        expires_at: Timestamp,
    ) -> Result<(Session, Changes), StoreError> {
        let now = Timestamp::now();
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            // `NotFound` when the account may not log in (any more).
            let session: Session = sqlx::query_as(p.pick(INSERT_SESSION_PG, INSERT_SESSION))
                .bind(user_id)
                .bind(user_agent)
                .bind(now)
                .bind(expires_at)
                .fetch_one(&mut *tx)
                .await?;
            if let Some(hash) = refresh_hash {
                sqlx::query(INSERT_REFRESH).bind(hash).bind(session.id).bind(now)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            let opened = Change::to_account(user_id, AccountChange::SessionOpened(session.id));
            Ok((session, opened))
        })
    }

    async fn session_user(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<Option<SessionUser>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_as(AUTHENTICATE)
                .bind(session_id).bind(user_id).bind(Timestamp::now())
                .fetch_optional(p).await
        })?)
    }

    async fn touch_session(&self, session_id: SessionId) -> Result<Changes, StoreError> {
        let user: Option<UserId> = on_writer!(self, p => {
            sqlx::query_scalar(TOUCH_SESSION).bind(session_id).bind(Timestamp::now())
                .fetch_optional(p).await
        })?;
        Ok(user.map_or_else(Vec::new, |user| {
            Change::to_account(user, AccountChange::SessionUsed(session_id))
        }))
    }

    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        expires_at: Timestamp,
    ) -> Result<(RefreshOutcome, Changes), StoreError> {
        let now = Timestamp::now();
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            let spent: Option<i64> = sqlx::query_scalar(SPEND_REFRESH)
                .bind(presented_hash).bind(now).fetch_optional(&mut *tx).await?;
            let Some(session_id) = spent else {
                // Unknown, or already spent: a spent token presented again means someone
                // else holds a copy, so the whole session ends.
                let owner: Option<i64> = sqlx::query_scalar(SPENT_TOKEN_SESSION)
                    .bind(presented_hash).fetch_optional(&mut *tx).await?;
                let Some(session_id) = owner else {
                    return Ok((RefreshOutcome::Unknown, Vec::new()));
                };
                let ended: Option<UserId> = sqlx::query_scalar(REVOKE_BY_ID).bind(session_id)
                    .bind(now).fetch_optional(&mut *tx).await?;
                tx.commit().await?;
                // A session that had ended already is reported as any ended session is.
                return Ok(match ended {
                    Some(user) => (RefreshOutcome::Reused, Change::to_account(user, AccountChange::SessionsEnded)),
                    None => (RefreshOutcome::Unknown, Vec::new()),
                });
            };
            let session: Option<Session> = sqlx::query_as(USE_SESSION)
                .bind(session_id).bind(now).bind(expires_at).fetch_optional(&mut *tx).await?;
            let Some(session) = session else {
                return Ok((RefreshOutcome::Unknown, Vec::new()));
            };
            sqlx::query(INSERT_REFRESH).bind(new_hash).bind(session_id).bind(now)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            let used = Change::to_account(session.user_id, AccountChange::SessionUsed(session.id));
            Ok((RefreshOutcome::Rotated(session), used))
        })
    }

    async fn end_session(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<Changes, StoreError> {
        let ended = on_writer!(self, p => {
            sqlx::query(REVOKE_OWN).bind(session_id).bind(user_id).bind(Timestamp::now())
                .execute(p).await?.rows_affected()
        });
        if ended == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(Change::to_account(user_id, AccountChange::SessionsEnded))
    }

    async fn end_other_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> Result<(u64, Changes), StoreError> {
        let ended = on_writer!(self, p => {
            sqlx::query(REVOKE_OTHERS).bind(user_id).bind(keep.unwrap_or(SessionId(-1)))
                .bind(Timestamp::now()).execute(p).await?.rows_affected()
        });
        let changes = if ended == 0 {
            Vec::new()
        } else {
            Change::to_account(user_id, AccountChange::SessionsEnded)
        };
        Ok((ended, changes))
    }

    async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_as(LIST_OPEN).bind(user_id).bind(Timestamp::now()).fetch_all(p).await
        })?)
    }

    async fn purge_sessions(&self, before: Timestamp) -> Result<u64, StoreError> {
        Ok(on_writer!(self, p => {
            sqlx::query(PURGE_SESSIONS).bind(before).execute(p).await?.rows_affected()
        }))
    }
}
