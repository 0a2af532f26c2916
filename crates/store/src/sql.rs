//! Query text shared by several store methods, and the one place where the two SQL dialects
//! differ.

use sqlx::{PgPool, SqlitePool};

use crate::{Change, ConversationChange, ConversationId, ConversationKind, UserId};

/// The columns of [`crate::Message`], selected from `messages m`.
macro_rules! message_select {
    () => {
        "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.content, m.created_at, \
         m.edited_at, m.deleted_at, m.kind, m.subject_id FROM messages m "
    };
}
pub(crate) use message_select;

/// Takes a conversation's next `seq` (`$conversation`: a condition on `conversations`),
/// locking its row until the transaction ends, so that messages commit in `seq` order with no
/// gaps. The message's time is taken here too, under the lock: the clock reading bound at
/// `$now` (taken before the wait), or a microsecond after the previous message if that is
/// later. So `created_at` rises with `seq`, and the conversation's activity time (its newest
/// message's) never goes back. Returns `id, last_seq, kind, last_message_at`.
macro_rules! next_seq {
    ($conversation:expr, $now:literal) => {
        concat!(
            "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = CASE \
             WHEN ",
            $now,
            " > COALESCE(last_message_at, 0) THEN ",
            $now,
            " ELSE last_message_at + 1 END WHERE (",
            $conversation,
            ") AND closed_at IS NULL RETURNING id, last_seq, kind, last_message_at"
        )
    };
}
pub(crate) use next_seq;

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
        let kind = $crate::sql::conversation_kind(&rows)?;
        let events = $crate::events::append_events!($p, $tx, conversation, kind, &what);
        $crate::sql::conversation_change(conversation, kind, rows, what, events)
    }};
}
pub(crate) use change_in;

/// PostgreSQL: holds conversation `$conversation`'s membership still until the transaction
/// ends, for a write that does not hold its row already (sends do, `FOR NO KEY UPDATE`; group
/// changes, `FOR UPDATE`). Every membership change takes that row `FOR UPDATE` first, which
/// this share lock keeps out (sends' lock it does not), so the members `change_in!` reads, the
/// stream heads it locks for them and the events it appends are one and the same set.
/// Without it, a member removed while such a write waited for the heads' locks would still
/// get its events, and one added would miss them. Taken before any member row the write
/// locks, to keep the lock order conversation → members → heads.
macro_rules! hold_membership {
    ($p:expr, $tx:expr, $conversation:expr) => {
        if $crate::sql::Dialect::is_postgres($p) {
            sqlx::query("SELECT 1 FROM conversations WHERE id = $1 FOR KEY SHARE")
                .bind($conversation)
                .execute(&mut *$tx)
                .await?;
        }
    };
}
pub(crate) use hold_membership;

/// The conversation's kind, from the rows of [`MEMBERS`] (none: it has no members left).
pub(crate) fn conversation_kind(
    rows: &[(String, UserId)],
) -> Result<ConversationKind, sqlx::Error> {
    let (kind, _) = rows.first().ok_or(sqlx::Error::RowNotFound)?;
    decode(kind.clone())
}

/// A stored name as the value it stands for (a name this version does not know is a
/// decoding error, as a malformed column would be).
pub(crate) fn decode<T: TryFrom<String, Error = crate::models::UnknownName>>(
    value: String,
) -> Result<T, sqlx::Error> {
    T::try_from(value).map_err(|err| sqlx::Error::Decode(err.into()))
}

/// Builds a conversation's [`Change`] from the rows of [`MEMBERS`].
pub(crate) fn conversation_change(
    conversation: ConversationId,
    kind: ConversationKind,
    rows: Vec<(String, UserId)>,
    what: ConversationChange,
    events: Vec<(UserId, i64)>,
) -> Change {
    Change::Conversation {
        conversation,
        kind,
        members: rows.into_iter().map(|(_, user)| user).collect(),
        what,
        events,
    }
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

/// The unread count of the member row aliased `$member`: texts from others after its read
/// position, not deleted, not hidden from it (a group's notices are not counted).
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
             AND m.kind = 'text' AND m.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM hidden_messages h \
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
