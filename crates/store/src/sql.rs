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

/// The [`Change`] that `$what` made to conversation `$conversation`, with its events
/// appended: reads its kind and members inside transaction `$tx` on pool `$p` (so they are
/// the ones it commits with) and appends an event to each concerned member's stream.
macro_rules! change_in {
    ($p:expr, $tx:expr, $conversation:expr, $what:expr) => {{
        let conversation: $crate::ConversationId = $conversation;
        let what: $crate::ConversationChange = $what;
        let rows: Vec<(String, $crate::UserId)> = sqlx::query_as($crate::sql::MEMBERS)
            .bind(conversation)
            .fetch_all(&mut *$tx)
            .await?;
        let events = $crate::events::append_events!($p, $tx, conversation, &what);
        $crate::sql::conversation_change(conversation, rows, what, events)?
    }};
}
pub(crate) use change_in;

/// Builds a conversation's [`Change`] from the rows of [`MEMBERS`].
pub(crate) fn conversation_change(
    conversation: ConversationId,
    rows: Vec<(String, UserId)>,
    what: ConversationChange,
    events: Vec<(UserId, i64)>,
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
        events,
    })
}

/// A condition: the user bound at `$2` is a member of the conversation bound at `$1`.
macro_rules! caller_is_member {
    () => {
        "EXISTS (SELECT 1 FROM conversation_members cm \
         WHERE cm.conversation_id = $1 AND cm.user_id = $2)"
    };
}
pub(crate) use caller_is_member;

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
    fn is_postgres(&self) -> bool;

    fn pick(&self, postgres: &'static str, sqlite: &'static str) -> &'static str {
        if self.is_postgres() { postgres } else { sqlite }
    }
}

impl Dialect for PgPool {
    fn is_postgres(&self) -> bool {
        true
    }
}

impl Dialect for SqlitePool {
    fn is_postgres(&self) -> bool {
        false
    }
}
