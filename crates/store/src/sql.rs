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

/// A condition: message `m` is not hidden from the user bound at `$user` ("delete for me").
macro_rules! not_hidden_from {
    ($user:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM hidden_messages h WHERE h.message_id = m.id AND h.user_id = ",
            $user,
            ")"
        )
    };
}
pub(crate) use not_hidden_from;

/// The unread count of the member row aliased `$member`: messages from others after its read
/// position, not deleted, not hidden from it.
macro_rules! unread_count_of {
    ($member:literal) => {
        concat!(
            "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = ",
            $member,
            ".conversation_id \
             AND m.seq > ",
            $member,
            ".last_read_seq AND m.sender_id <> ",
            $member,
            ".user_id \
             AND m.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM hidden_messages h \
             WHERE h.message_id = m.id AND h.user_id = ",
            $member,
            ".user_id))"
        )
    };
}
pub(crate) use unread_count_of;

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
