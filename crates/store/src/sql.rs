//! Query text shared by several store methods, and the one place where the two SQL dialects
//! differ.

use sqlx::{PgPool, SqlitePool};

use crate::{Change, ConversationChange, ConversationId, ConversationKind, UserId};

/// The columns of [`crate::Message`], selected from `messages m`.
macro_rules! message_select {
    () => {
        "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.content, m.created_at, \
         m.edited_at, m.deleted_at FROM messages m "
    };
}
pub(crate) use message_select;

/// A conversation's kind and members, one row per member: what a write reports as changed.
pub(crate) const MEMBERS: &str = "SELECT c.kind, cm.user_id FROM conversations c \
    JOIN conversation_members cm ON cm.conversation_id = c.id WHERE c.id = $1 ORDER BY cm.user_id";

/// The [`Change`] that `$what` made to conversation `$conversation`, reading its kind and
/// members on `$conn` (inside the writing transaction, so they are the ones it committed
/// with).
macro_rules! change_in {
    ($conn:expr, $conversation:expr, $what:expr) => {{
        let rows: Vec<(String, $crate::UserId)> = sqlx::query_as($crate::sql::MEMBERS)
            .bind($conversation)
            .fetch_all($conn)
            .await?;
        $crate::sql::conversation_change($conversation, rows, $what)?
    }};
}
pub(crate) use change_in;

/// Builds a conversation's [`Change`] from the rows of [`MEMBERS`].
pub(crate) fn conversation_change(
    conversation: ConversationId,
    rows: Vec<(String, UserId)>,
    what: ConversationChange,
) -> Result<Change, sqlx::Error> {
    let kind = rows
        .first()
        .map(|(kind, _)| kind.clone())
        .ok_or(sqlx::Error::RowNotFound)?;
    let kind = ConversationKind::try_from(kind).map_err(|err| sqlx::Error::Decode(err.into()))?;
    Ok(Change::Conversation {
        conversation,
        kind,
        members: rows.into_iter().map(|(_, user)| user).collect(),
        what,
    })
}

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
        "id, kind, last_seq, created_at"
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
