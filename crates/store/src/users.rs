//! User accounts.

use crate::error::is_unique_violation;
use crate::ids::{SessionId, UserId};
use crate::pool::{Begin, on_pool, on_writer};
use crate::sessions::REVOKE_OTHERS;
use crate::sql::user_select;
use crate::{
    Account, AccountChange, AccountChanges, Change, Changes, ConflictKind, NewUser, SqlStore,
    StoreError, Timestamp, User,
};

const INSERT_USER: &str = "INSERT INTO users \
    (username, email, full_name, password_hash, created_at, last_active_at) \
    VALUES ($1, $2, $3, $4, $5, $5) RETURNING id";
const INSERT_EVENT_HEAD: &str = "INSERT INTO event_heads (user_id, head) VALUES ($1, 0)";
// After a unique violation: which of the two was taken? (Username wins when both are.)
const WHICH_TAKEN: &str = "SELECT lower(username) = lower($1) AS username_taken FROM users \
    WHERE lower(username) = lower($1) OR lower(email) = lower($2)";
// A deleted account's row stays (see `delete_user`), but no lookup finds it.
const BY_ID: &str = concat!(user_select!(), "WHERE id = $1 AND deleted_at IS NULL");
const BY_EMAIL: &str = concat!(
    user_select!(),
    "WHERE lower(email) = lower($1) AND deleted_at IS NULL"
);
const BY_USERNAME: &str = concat!(
    user_select!(),
    "WHERE lower(username) = lower($1) AND deleted_at IS NULL"
);
// Who may log in: a disabled account is answered as an unknown one.
const LOGIN_BY_EMAIL: &str = concat!(
    user_select!(),
    "WHERE lower(email) = lower($1) AND deleted_at IS NULL AND disabled_at IS NULL"
);
const LOGIN_BY_USERNAME: &str = concat!(
    user_select!(),
    "WHERE lower(username) = lower($1) AND deleted_at IS NULL AND disabled_at IS NULL"
);
macro_rules! account_select {
    () => {
        "SELECT id, username, email, full_name, password_hash, created_at, last_active_at, \
         disabled_at FROM users WHERE deleted_at IS NULL "
    };
}
const ACCOUNT: &str = concat!(account_select!(), "AND id = $1");
const ACCOUNTS: &str = concat!(account_select!(), "AND id > $1 ORDER BY id LIMIT $2");
// Disabling keeps the first time it was disabled.
const DISABLE: &str = "UPDATE users SET disabled_at = COALESCE(disabled_at, $2) \
    WHERE id = $1 AND deleted_at IS NULL";
const ENABLE: &str = "UPDATE users SET disabled_at = NULL WHERE id = $1 AND deleted_at IS NULL";
const REVOKE_ALL: &str =
    "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";
// Deleting an account: the row stays, anonymised, so that what its user sent stays in others'
// conversations. ':' is in no username or e-mail registration accepts, so neither can be
// claimed, and '!' is no password hash, so nothing logs in.
const ANONYMISE: &str = "UPDATE users SET username = 'deleted:' || id, email = 'deleted:' || id, \
    full_name = NULL, password_hash = '!', deleted_at = $2, disabled_at = COALESCE(disabled_at, $2) \
    WHERE id = $1 AND deleted_at IS NULL";
// Direct conversations with a deleted account take no new messages; the other member keeps
// the history.
const CLOSE_DIRECT: &str = "UPDATE conversations SET closed_at = $2 \
    WHERE kind = 'direct' AND closed_at IS NULL \
    AND id IN (SELECT conversation_id FROM conversation_members WHERE user_id = $1)";
// A group joined after the account left its groups (an add racing the deletion): the caller
// leaves it, by the groups' rules, and tries again.
const IN_A_GROUP: &str = "SELECT 1 FROM conversation_members cm \
    JOIN conversations c ON c.id = cm.conversation_id AND c.kind = 'group' \
    WHERE cm.user_id = $1 LIMIT 1";
// What only the account's own user saw goes with it (refresh tokens go with their sessions).
// Without its stream's head, no event is appended for it any more (appends go to the heads
// they find): a closed conversation's later edits or reads reach its other member only.
const FORGET_OWN: [&str; 5] = [
    "DELETE FROM sessions WHERE user_id = $1",
    "DELETE FROM idempotency_keys WHERE user_id = $1",
    "DELETE FROM hidden_messages WHERE user_id = $1",
    "DELETE FROM events WHERE user_id = $1",
    "DELETE FROM event_heads WHERE user_id = $1",
];
const TOUCH: &str = "UPDATE users SET last_active_at = $2 WHERE id = $1";
const SET_FULL_NAME: &str = "UPDATE users SET full_name = $2 WHERE id = $1";
const SET_PASSWORD: &str = "UPDATE users SET password_hash = $2 WHERE id = $1";
// `$1` is a lower-cased prefix with LIKE's wildcards escaped, followed by `%`.
const SEARCH: &str = concat!(
    user_select!(),
    "WHERE lower(username) LIKE $1 ESCAPE '\\' AND deleted_at IS NULL \
     ORDER BY lower(username), id LIMIT $2"
);

/// A LIKE pattern matching names that start with `prefix`, whatever its characters.
fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// User accounts.
#[allow(async_fn_in_trait)] // used through `SqlStore` itself, never as `dyn` or generically
pub trait UserStore {
    /// Creates a user; `Conflict(Username | Email)` when either is taken, ignoring case.
    async fn create_user(&self, user: NewUser) -> Result<(User, Changes), StoreError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Looks a user up by e-mail, ignoring case.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Looks a user up by username, ignoring case.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Records that the user was active now (on login); returns the time recorded.
    async fn touch_user(&self, id: UserId) -> Result<(Timestamp, Changes), StoreError>;
    /// Who may log in with this e-mail (ignoring case): not a disabled account.
    async fn login_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Who may log in with this username (ignoring case): not a disabled account.
    async fn login_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// One account with its standing (`None` once deleted).
    async fn account(&self, id: UserId) -> Result<Option<Account>, StoreError>;
    /// Accounts in id order, after `after`.
    async fn accounts(&self, after: UserId, limit: i64) -> Result<Vec<Account>, StoreError>;
    /// Disables the account (ending every session of it, in the same transaction) or
    /// enables it again.
    async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<Changes, StoreError>;
    /// Deletes the account: anonymises its row (what it sent stays with those who received
    /// it), closes its direct conversations, and forgets its sessions, idempotency keys,
    /// hidden messages and its event stream. Refuses (`Ok(None)`, nothing written) while it is still a
    /// member of a group: its groups' rules (an owner hands over) are the caller's to apply.
    async fn delete_user(&self, id: UserId) -> Result<Option<Changes>, StoreError>;
    /// Changes the display name and/or password (ending the other sessions) atomically.
    async fn update_account(
        &self,
        id: UserId,
        changes: AccountChanges,
    ) -> Result<(User, Changes), StoreError>;
    /// Users whose username starts with `prefix`, ignoring case, in username order.
    async fn search_users(&self, prefix: &str, limit: i64) -> Result<Vec<User>, StoreError>;
}

impl UserStore for SqlStore {
    async fn create_user(&self, user: NewUser) -> Result<(User, Changes), StoreError> {
        let now = Timestamp::now();
        // The user and the head of their event stream, together.
        let inserted: Result<UserId, sqlx::Error> = on_writer!(self, p => async {
            let mut tx = p.begin_write().await?;
            let id: UserId = sqlx::query_scalar(INSERT_USER)
                .bind(&user.username)
                .bind(&user.email)
                .bind(&user.full_name)
                .bind(&user.password_hash)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(INSERT_EVENT_HEAD).bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(id)
        }.await);
        match inserted {
            Ok(id) => Ok((
                User {
                    id,
                    username: user.username,
                    email: user.email,
                    full_name: user.full_name,
                    password_hash: user.password_hash,
                    created_at: now,
                    last_active_at: now,
                },
                Change::to_account(id, AccountChange::Created),
            )),
            Err(err) if is_unique_violation(&err) => {
                Err(StoreError::Conflict(self.which_taken(&user).await?))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_as(BY_ID).bind(id).fetch_optional(p).await
        })?)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_as(BY_EMAIL).bind(email).fetch_optional(p).await
        })?)
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_as(BY_USERNAME).bind(username).fetch_optional(p).await
        })?)
    }

    async fn touch_user(&self, id: UserId) -> Result<(Timestamp, Changes), StoreError> {
        let now = Timestamp::now();
        let touched = on_writer!(self, p => {
            sqlx::query(TOUCH).bind(id).bind(now).execute(p).await?.rows_affected()
        });
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        Ok((now, Change::to_account(id, AccountChange::Active)))
    }

    /// Applies every change in one transaction: all of them, or none.
    async fn update_account(
        &self,
        id: UserId,
        changes: AccountChanges,
    ) -> Result<(User, Changes), StoreError> {
        let now = Timestamp::now();
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            let mut ended = 0;
            if let Some((hash, keep_session)) = &changes.password {
                sqlx::query(SET_PASSWORD).bind(id).bind(hash).execute(&mut *tx).await?;
                ended = sqlx::query(REVOKE_OTHERS).bind(id)
                    .bind(keep_session.unwrap_or(SessionId(-1))).bind(now)
                    .execute(&mut *tx).await?.rows_affected();
            }
            if let Some(full_name) = &changes.full_name {
                sqlx::query(SET_FULL_NAME).bind(id).bind(full_name).execute(&mut *tx).await?;
            }
            let user: Option<User> = sqlx::query_as(BY_ID).bind(id).fetch_optional(&mut *tx).await?;
            let Some(user) = user else { return Err(StoreError::NotFound) };
            tx.commit().await?;
            let mut changes = Change::to_account(id, AccountChange::Updated);
            if ended > 0 {
                changes.extend(Change::to_account(id, AccountChange::SessionsEnded));
            }
            Ok((user, changes))
        })
    }

    async fn search_users(&self, prefix: &str, limit: i64) -> Result<Vec<User>, StoreError> {
        let pattern = prefix_pattern(prefix);
        Ok(on_pool!(self, p => {
            sqlx::query_as(SEARCH).bind(&pattern).bind(limit).fetch_all(p).await
        })?)
    }

    async fn login_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_as(LOGIN_BY_EMAIL).bind(email).fetch_optional(p).await
        })?)
    }

    async fn login_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_as(LOGIN_BY_USERNAME).bind(username).fetch_optional(p).await
        })?)
    }

    async fn account(&self, id: UserId) -> Result<Option<Account>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_as(ACCOUNT).bind(id).fetch_optional(p).await
        })?)
    }

    async fn accounts(&self, after: UserId, limit: i64) -> Result<Vec<Account>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_as(ACCOUNTS).bind(after).bind(limit).fetch_all(p).await
        })?)
    }

    async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<Changes, StoreError> {
        let now = Timestamp::now();
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            let done = if disabled {
                sqlx::query(DISABLE).bind(id).bind(now).execute(&mut *tx).await?
            } else {
                sqlx::query(ENABLE).bind(id).execute(&mut *tx).await?
            };
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            let mut changes = Change::to_account(id, AccountChange::Updated);
            if disabled {
                sqlx::query(REVOKE_ALL).bind(id).bind(now).execute(&mut *tx).await?;
                changes.extend(Change::to_account(id, AccountChange::SessionsEnded));
            }
            tx.commit().await?;
            Ok(changes)
        })
    }

    async fn delete_user(&self, id: UserId) -> Result<Option<Changes>, StoreError> {
        let now = Timestamp::now();
        // One transaction, so an account is never half-deleted if the connection drops.
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            let done = sqlx::query(ANONYMISE).bind(id).bind(now).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            let in_group: Option<i32> =
                sqlx::query_scalar(IN_A_GROUP).bind(id).fetch_optional(&mut *tx).await?;
            if in_group.is_some() {
                return Ok(None);
            }
            sqlx::query(CLOSE_DIRECT).bind(id).bind(now).execute(&mut *tx).await?;
            for forget in FORGET_OWN {
                sqlx::query(forget).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(Some(Change::to_account(id, AccountChange::Deleted)))
        })
    }
}

impl SqlStore {
    async fn which_taken(&self, user: &NewUser) -> Result<ConflictKind, StoreError> {
        let flags: Vec<bool> = on_pool!(self, p => {
            sqlx::query_scalar(WHICH_TAKEN)
                .bind(&user.username)
                .bind(&user.email)
                .fetch_all(p)
                .await
        })?;
        Ok(if flags.contains(&true) {
            ConflictKind::Username
        } else {
            ConflictKind::Email
        })
    }
}
