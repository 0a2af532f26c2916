//! Query text shared by several store methods, and the one place where the two SQL dialects
//! differ.

use sqlx::{PgPool, SqlitePool};

/// The columns of [`crate::Message`], selected from `messages m JOIN conversations c`. The
/// recipient of a direct message is whichever member of the pair did not send it.
macro_rules! message_select {
    () => {
        "SELECT m.id, m.conversation_id, m.seq, m.sender_id, \
         CASE WHEN m.sender_id = c.direct_low THEN c.direct_high ELSE c.direct_low END AS recipient_id, \
         m.content, m.created_at, m.edited_at, m.deleted_at \
         FROM messages m JOIN conversations c ON c.id = m.conversation_id "
    };
}
pub(crate) use message_select;

/// The columns of [`crate::User`].
macro_rules! user_select {
    () => {
        "SELECT id, username, email, full_name, password_hash, created_at, last_active_at FROM users "
    };
}
pub(crate) use user_select;

/// The columns of [`crate::Conversation`].
macro_rules! conversation_columns {
    () => {
        "id, direct_low, direct_high, last_seq, created_at"
    };
}
pub(crate) use conversation_columns;

/// Picks the statement for the backend a pool talks to, for the few places where PostgreSQL
/// and SQLite need different SQL. Both versions sit side by side at the call site.
pub(crate) trait Dialect {
    fn pick(&self, postgres: &'static str, sqlite: &'static str) -> &'static str;
}

impl Dialect for PgPool {
    fn pick(&self, postgres: &'static str, _sqlite: &'static str) -> &'static str {
        postgres
    }
}

impl Dialect for SqlitePool {
    fn pick(&self, _postgres: &'static str, sqlite: &'static str) -> &'static str {
        sqlite
    }
}
