//! Idempotency keys: a client's key for one request (a send, a group's creation), remembered
//! per user with a fingerprint of the request and the message it made, so that a retry answers
//! what the first attempt made instead of doing it again.

use crate::ids::MessageId;

// Claims a key for this request; nothing comes back if it was claimed before (on PostgreSQL,
// after waiting for a concurrent claimer to commit).
pub(crate) const CLAIM_KEY: &str = "INSERT INTO idempotency_keys \
    (user_id, idem_key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
    ON CONFLICT (user_id, idem_key) DO NOTHING RETURNING user_id";
pub(crate) const EARLIER_CLAIM: &str = "SELECT request_hash, message_id, created_at \
    FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2";
pub(crate) const RECLAIM_EXPIRED_KEY: &str = "UPDATE idempotency_keys \
    SET request_hash = $3, created_at = $4, message_id = NULL \
    WHERE user_id = $1 AND idem_key = $2 AND created_at < $5";
/// Records the message a claimed key's request made (in the same transaction).
pub(crate) const RECORD_KEY_MESSAGE: &str =
    "UPDATE idempotency_keys SET message_id = $3 WHERE user_id = $1 AND idem_key = $2";

/// What a key says about the request claiming it.
pub(crate) enum Claim {
    /// First use (or the earlier one expired): go ahead, and record the message made.
    New,
    /// Used before, for this same request (`true`) or another; and the message it made.
    Earlier {
        same_request: bool,
        message: Option<MessageId>,
    },
}

/// Claims `$key` (an [`crate::Idempotency`]) for user `$user` at `$now` inside transaction
/// `$tx`; evaluates to a [`Claim`].
macro_rules! claim_key {
    ($tx:expr, $user:expr, $key:expr, $now:expr) => {{
        use $crate::idempotency::{CLAIM_KEY, Claim, EARLIER_CLAIM, RECLAIM_EXPIRED_KEY};
        let key: $crate::Idempotency<'_> = $key;
        let claimed: Option<$crate::UserId> = sqlx::query_scalar(CLAIM_KEY)
            .bind($user)
            .bind(key.key)
            .bind(key.request_hash)
            .bind($now)
            .fetch_optional(&mut *$tx)
            .await?;
        if claimed.is_some() {
            Claim::New
        } else {
            let earlier: (String, Option<$crate::MessageId>, $crate::Timestamp) =
                sqlx::query_as(EARLIER_CLAIM)
                    .bind($user)
                    .bind(key.key)
                    .fetch_one(&mut *$tx)
                    .await?;
            let (mut request_hash, mut message, first_used) = earlier;
            let reclaimed = first_used < key.expires_before
                && sqlx::query(RECLAIM_EXPIRED_KEY)
                    .bind($user)
                    .bind(key.key)
                    .bind(key.request_hash)
                    .bind($now)
                    .bind(key.expires_before)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected()
                    == 1;
            if reclaimed {
                Claim::New
            } else {
                if first_used < key.expires_before {
                    // A concurrent request reclaimed the expired key first (PostgreSQL made
                    // this one wait for it): answer from what that one stored.
                    let current: (String, Option<$crate::MessageId>, $crate::Timestamp) =
                        sqlx::query_as(EARLIER_CLAIM)
                            .bind($user)
                            .bind(key.key)
                            .fetch_one(&mut *$tx)
                            .await?;
                    (request_hash, message) = (current.0, current.1);
                }
                Claim::Earlier {
                    same_request: request_hash == key.request_hash,
                    message,
                }
            }
        }
    }};
}
pub(crate) use claim_key;
