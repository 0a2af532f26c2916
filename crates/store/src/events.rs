//! Each user's stream of events, for live delivery. A write appends one event per user it
//! concerns in its own transaction (see `append_events!`), at the next position of that
//! user's stream: positions are gapless and rise in commit order. Readers page through a
//! stream after a position; an event is read with the message as it is *now*, so a deleted
//! message's text is never replayed, and one the reader has hidden is never shown to them
//! again.

use crate::ids::{ConversationId, MessageId, UserId};
use crate::pool::{Begin, on_pool, on_writer};
use crate::sql::decode;
use crate::{ConversationChange, ConversationKind, Message, SqlStore, StoreError, Timestamp};

crate::models::stored_names! {
    /// What happened, as events name it (each event's `type`).
    pub enum EventKind as "event kind" {
        ConversationCreated = "conversation.created",
        MessageCreated = "message.created",
        MessageEdited = "message.edited",
        MessageDeleted = "message.deleted",
        /// Only in the stream of the member who hid the message.
        MessageHidden = "message.hidden",
        /// In a direct conversation, to both members; in a group, to the reader and to the
        /// senders of the messages the move newly covers.
        ConversationRead = "conversation.read",
        MemberAdded = "member.added",
        /// Also to the member removed (or who left): the last event of the group they get.
        MemberRemoved = "member.removed",
        /// A member's role changed.
        MemberUpdated = "member.updated",
        /// The group was renamed.
        ConversationUpdated = "conversation.updated",
    }
}

/// What the events of one conversation change record, and whose streams get them.
pub(crate) struct EventFacts {
    pub kind: EventKind,
    pub message: Option<MessageId>,
    /// The member the event is about: whose read position moved, who joined or left.
    pub user: Option<UserId>,
    pub read_seq: Option<i64>,
    /// `Some(user)`: only that member's stream, and the streams of the senders of the
    /// messages in `senders_between` (exclusive, inclusive); `None`: every member's.
    pub only: Option<UserId>,
    pub senders_between: Option<(i64, i64)>,
}

impl EventFacts {
    pub fn of(change: &ConversationChange, conversation: ConversationKind) -> Self {
        let facts = |kind, message| Self {
            kind,
            message,
            user: None,
            read_seq: None,
            only: None,
            senders_between: None,
        };
        let about = |kind, message, member| Self {
            user: Some(member),
            ..facts(kind, Some(message))
        };
        match *change {
            ConversationChange::Created => facts(EventKind::ConversationCreated, None),
            ConversationChange::MessageCreated { message, .. } => {
                facts(EventKind::MessageCreated, Some(message))
            }
            ConversationChange::MessageEdited { message, .. } => {
                facts(EventKind::MessageEdited, Some(message))
            }
            ConversationChange::MessageDeleted { message, .. } => {
                facts(EventKind::MessageDeleted, Some(message))
            }
            ConversationChange::MessageHidden { message, by, .. } => Self {
                only: Some(by),
                ..facts(EventKind::MessageHidden, Some(message))
            },
            // A group's receipts go only where they mean something: to the reader's other
            // devices and to whoever wrote what was just read. (To every member, a group of
            // a thousand would store a million events per message read by all.)
            ConversationChange::Read { user, from, seq } => Self {
                user: Some(user),
                read_seq: Some(seq),
                only: (conversation == ConversationKind::Group).then_some(user),
                senders_between: (conversation == ConversationKind::Group).then_some((from, seq)),
                ..facts(EventKind::ConversationRead, None)
            },
            ConversationChange::MemberAdded {
                member, message, ..
            } => about(EventKind::MemberAdded, message, member),
            ConversationChange::MemberRemoved {
                member, message, ..
            } => about(EventKind::MemberRemoved, message, member),
            ConversationChange::RoleChanged {
                member, message, ..
            } => about(EventKind::MemberUpdated, message, member),
            ConversationChange::Renamed { message, .. } => {
                facts(EventKind::ConversationUpdated, Some(message))
            }
        }
    }
}

// The users a conversation's events go to: its members; or, when `$2` is set, only `$2`
// and the senders of the texts with `seq` in `($3, $4]`.
macro_rules! recipients {
    ($column:literal) => {
        concat!(
            $column,
            " IN (SELECT cm.user_id FROM conversation_members cm WHERE cm.conversation_id = $1) \
             AND ($2 IS NULL OR ",
            $column,
            " = $2 OR ",
            $column,
            " IN (SELECT m.sender_id FROM messages m WHERE m.conversation_id = $1 \
                 AND m.seq > $3 AND m.seq <= $4 AND m.kind = 'text'))"
        )
    };
}
/// PostgreSQL: the recipients' heads, locked in ascending user id so that two writes
/// concerning the same users never wait on each other in a cycle. (SQLite's one writer
/// needs no row locks.)
pub(crate) const LOCK_HEADS_PG: &str = concat!(
    "SELECT user_id FROM event_heads WHERE ",
    recipients!("user_id"),
    " ORDER BY user_id FOR UPDATE"
);
pub(crate) const BUMP_HEADS: &str = concat!(
    "UPDATE event_heads SET head = head + 1 WHERE ",
    recipients!("user_id")
);
/// PostgreSQL: the heads `LOCK_HEADS_PG` locked (`$1`: their user ids, comma-separated),
/// bumped; then their events appended.
pub(crate) const BUMP_LOCKED_PG: &str = "UPDATE event_heads SET head = head + 1 \
    WHERE user_id = ANY(string_to_array($1, ',')::bigint[])";
pub(crate) const APPEND_LOCKED_PG: &str = "INSERT INTO events \
    (user_id, seq, kind, conversation_id, message_id, actor_id, read_seq, created_at) \
    SELECT h.user_id, h.head, $2, $3, $4, $5, $6, $7 FROM event_heads h \
    WHERE h.user_id = ANY(string_to_array($1, ',')::bigint[]) RETURNING user_id, seq";
pub(crate) const APPEND: &str = concat!(
    "INSERT INTO events \
     (user_id, seq, kind, conversation_id, message_id, actor_id, read_seq, created_at) \
     SELECT h.user_id, h.head, $5, $1, $6, $7, $8, $9 FROM event_heads h WHERE ",
    recipients!("h.user_id"),
    " RETURNING user_id, seq"
);

/// Appends the events of `$what` (a [`ConversationChange`]) in conversation `$conversation`
/// of kind `$kind` inside transaction `$tx` on pool `$p`, and evaluates to the `(user, seq)`
/// of each.
macro_rules! append_events {
    ($p:expr, $tx:expr, $conversation:expr, $kind:expr, $what:expr) => {{
        let facts = $crate::events::EventFacts::of($what, $kind);
        let (from, to) = facts.senders_between.unzip();
        if $crate::sql::Dialect::is_postgres($p) {
            // Bump and append for exactly the heads locked. The caller holds the membership
            // still (its conversation row, or `hold_membership!`), so reading the recipients
            // again would find the same ones; going by the locked list makes sure no head is
            // ever touched out of order.
            let locked: Vec<i64> = sqlx::query_scalar($crate::events::LOCK_HEADS_PG)
                .bind($conversation)
                .bind(facts.only)
                .bind(from)
                .bind(to)
                .fetch_all(&mut *$tx)
                .await?;
            // As text (`1,2,3`): the macro is compiled for SQLite too, which binds no arrays.
            let locked: String = locked
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            sqlx::query($crate::events::BUMP_LOCKED_PG)
                .bind(&locked)
                .execute(&mut *$tx)
                .await?;
            let mut appended: Vec<($crate::UserId, i64)> =
                sqlx::query_as($crate::events::APPEND_LOCKED_PG)
                    .bind(&locked)
                    .bind(facts.kind.as_str())
                    .bind($conversation)
                    .bind(facts.message)
                    .bind(facts.user)
                    .bind(facts.read_seq)
                    .bind($crate::Timestamp::now())
                    .fetch_all(&mut *$tx)
                    .await?;
            appended.sort_unstable();
            appended
        } else {
            sqlx::query($crate::events::BUMP_HEADS)
                .bind($conversation)
                .bind(facts.only)
                .bind(from)
                .bind(to)
                .execute(&mut *$tx)
                .await?;
            let mut appended: Vec<($crate::UserId, i64)> = sqlx::query_as($crate::events::APPEND)
                .bind($conversation)
                .bind(facts.only)
                .bind(from)
                .bind(to)
                .bind(facts.kind.as_str())
                .bind(facts.message)
                .bind(facts.user)
                .bind(facts.read_seq)
                .bind($crate::Timestamp::now())
                .fetch_all(&mut *$tx)
                .await?;
            // By user id, as the one-statement send reports them: RETURNING follows the plan's
            // row order (on PostgreSQL, the member rows' places in the heap), not the users'.
            appended.sort_unstable();
            appended
        }
    }};
}
pub(crate) use append_events;

/// One event of a user's stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: i64,
    pub kind: EventKind,
    pub conversation_id: ConversationId,
    pub at: Timestamp,
    /// The message it is about, as it is now; `None` for conversation events, when the
    /// message no longer exists (its sender's account was deleted), and once the reader is
    /// no longer in its conversation (a removed member replaying their stream sees what
    /// happened, not what the group's messages say now; only the notice of their own
    /// removal stays theirs to read).
    pub message: Option<Message>,
    /// The reader has hidden this message: show its id, not its content.
    pub hidden_from_reader: bool,
    /// The member it is about: whose read position moved (`conversation.read`), who
    /// joined, left or changed role (`member.*`).
    pub user: Option<UserId>,
    pub read_seq: Option<i64>,
}

/// A page of a user's stream, with where the stream stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// The position of the user's newest event.
    pub head: i64,
    /// Events at or below this position are no longer kept.
    pub floor: i64,
}

/// Reading and pruning users' streams.
#[allow(async_fn_in_trait)] // used through `SqlStore` itself, never as `dyn` or generically
pub trait EventStore {
    /// Up to `limit` of the user's events after position `after`, oldest first, read in one
    /// snapshot with the stream's head and floor. (`after` below the floor is the caller's
    /// to refuse: the events between are gone.)
    async fn events_after(
        &self,
        user: UserId,
        after: i64,
        limit: i64,
    ) -> Result<EventPage, StoreError>;
    /// The heads of these users' streams (users without one are left out).
    async fn event_heads(&self, users: &[UserId]) -> Result<Vec<(UserId, i64)>, StoreError>;
    /// Deletes events made before `before`, a batch at a time, from the oldest end of each
    /// stream only (one that an event made later precedes is kept until that one goes, so
    /// no hole opens above the floor); returns how many.
    async fn purge_events(&self, before: Timestamp) -> Result<u64, StoreError>;
}

const HEAD: &str = "SELECT head FROM event_heads WHERE user_id = $1";
const OLDEST: &str = "SELECT MIN(seq) FROM events WHERE user_id = $1";
const AFTER: &str = "SELECT e.seq, e.kind, e.conversation_id, e.created_at, e.actor_id, \
    e.read_seq, m.id, m.conversation_id AS m_conversation_id, m.seq AS m_seq, m.sender_id, \
    m.content, m.created_at AS m_created_at, m.edited_at, m.deleted_at, m.kind AS m_kind, \
    m.subject_id, \
    EXISTS (SELECT 1 FROM hidden_messages h WHERE h.message_id = e.message_id \
        AND h.user_id = e.user_id) AS hidden \
    FROM events e LEFT JOIN messages m ON m.id = e.message_id \
        AND (EXISTS (SELECT 1 FROM conversation_members cm \
                WHERE cm.conversation_id = e.conversation_id AND cm.user_id = e.user_id) \
            OR (e.kind = 'member.removed' AND m.subject_id = e.user_id)) \
    WHERE e.user_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3";
const PURGE_BATCH: i64 = 5_000;
// Times do not always rise with positions: PostgreSQL's one-statement send stamps its
// events with the time the send began, before it waited for a connection and the heads'
// locks, and several servers' clocks differ. So a batch takes, for some users with events
// made before `$1`, only the events below their oldest one made since.
const PURGE: &str = "DELETE FROM events WHERE (user_id, seq) IN \
    (SELECT e.user_id, e.seq FROM \
        (SELECT u.user_id, (SELECT n.seq FROM events n WHERE n.user_id = u.user_id \
            AND n.created_at >= $1 ORDER BY n.seq LIMIT 1) AS kept_from \
        FROM (SELECT DISTINCT c.user_id FROM \
            (SELECT user_id FROM events WHERE created_at < $1 LIMIT $2) c) u) cut \
    JOIN events e ON e.user_id = cut.user_id \
    WHERE e.created_at < $1 AND (cut.kept_from IS NULL OR e.seq < cut.kept_from) LIMIT $2)";

#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    kind: String,
    conversation_id: ConversationId,
    created_at: Timestamp,
    actor_id: Option<UserId>,
    read_seq: Option<i64>,
    id: Option<MessageId>,
    m_conversation_id: Option<ConversationId>,
    m_seq: Option<i64>,
    sender_id: Option<UserId>,
    content: Option<String>,
    m_created_at: Option<Timestamp>,
    edited_at: Option<Timestamp>,
    deleted_at: Option<Timestamp>,
    m_kind: Option<String>,
    subject_id: Option<UserId>,
    hidden: bool,
}

impl EventRow {
    fn into_event(self) -> Result<Event, sqlx::Error> {
        let message = match (
            self.id,
            self.m_conversation_id,
            self.m_seq,
            self.sender_id,
            self.m_created_at,
            self.m_kind,
        ) {
            (
                Some(id),
                Some(conversation_id),
                Some(seq),
                Some(sender_id),
                Some(created_at),
                Some(kind),
            ) => Some(Message {
                id,
                conversation_id,
                seq,
                sender_id,
                content: self.content.unwrap_or_default(),
                created_at,
                edited_at: self.edited_at,
                deleted_at: self.deleted_at,
                kind: decode(kind)?,
                subject_id: self.subject_id,
            }),
            _ => None,
        };
        Ok(Event {
            seq: self.seq,
            kind: decode(self.kind)?,
            conversation_id: self.conversation_id,
            at: self.created_at,
            message,
            hidden_from_reader: self.hidden,
            user: self.actor_id,
            read_seq: self.read_seq,
        })
    }
}

impl EventStore for SqlStore {
    async fn events_after(
        &self,
        user: UserId,
        after: i64,
        limit: i64,
    ) -> Result<EventPage, StoreError> {
        let (head, oldest, rows) = on_pool!(self, p => {
            let mut tx = p.begin_snapshot().await?;
            let head: Option<i64> = sqlx::query_scalar(HEAD).bind(user)
                .fetch_optional(&mut *tx).await?;
            let oldest: Option<i64> = sqlx::query_scalar(OLDEST).bind(user)
                .fetch_one(&mut *tx).await?;
            let rows: Vec<EventRow> = sqlx::query_as(AFTER).bind(user).bind(after).bind(limit)
                .fetch_all(&mut *tx).await?;
            tx.commit().await?;
            (head, oldest, rows)
        });
        let head = head.ok_or(StoreError::NotFound)?;
        let events = rows
            .into_iter()
            .map(EventRow::into_event)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EventPage {
            events,
            head,
            floor: oldest.map_or(head, |oldest| oldest - 1),
        })
    }

    async fn event_heads(&self, users: &[UserId]) -> Result<Vec<(UserId, i64)>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        // One statement per call, its ids as bound parameters (callers pass at most a few
        // hundred at a time).
        let marks: Vec<String> = (1..=users.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT user_id, head FROM event_heads WHERE user_id IN ({})",
            marks.join(", ")
        );
        Ok(on_pool!(self, p => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for user in users {
                query = query.bind(*user);
            }
            query.fetch_all(p).await
        })?)
    }

    async fn purge_events(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut purged = 0;
        loop {
            let batch = on_writer!(self, p => {
                sqlx::query(PURGE).bind(before).bind(PURGE_BATCH).execute(p).await?.rows_affected()
            });
            purged += batch;
            if batch < PURGE_BATCH as u64 {
                return Ok(purged);
            }
        }
    }
}
