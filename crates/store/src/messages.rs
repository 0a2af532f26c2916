//! Sending, editing and deleting messages. Every method acts for a user and checks, in the
//! same transaction, that they are a member of the message's conversation (and its sender,
//! where only the sender may act).

use crate::conversations::{ConversationStore, ordered};
use crate::idempotency::{Claim, RECORD_KEY_MESSAGE, claim_key};
use crate::ids::{ConversationId, MessageId, UserId};
use crate::pool::{Begin, DbPool, on_pool, on_writer};
use crate::sql::{
    Dialect, caller_is_member, change_in, decode, hold_membership, message_select, next_seq,
};
use crate::{
    Altered, Change, Changes, ConversationChange, ConversationKind, DirectMessage, Idempotency,
    Message, MessageKind, SendOutcome, SqlStore, StoreError, Timestamp,
};

/// Messages: sending, editing, deleting and hiding.
#[allow(async_fn_in_trait)] // used through `SqlStore` itself, never as `dyn` or generically
pub trait MessageStore {
    /// Sends a message from `sender` to `recipient`, opening their direct conversation if
    /// needed. The message gets the conversation's next `seq` in the same transaction, so
    /// sequence numbers are gapless and in commit order. `NotFound` when the recipient does
    /// not exist.
    async fn send_direct_message(
        &self,
        sender: UserId,
        recipient: UserId,
        content: &str,
    ) -> Result<(DirectMessage, Changes), StoreError>;
    /// Sends into a conversation the sender is a member of (`NotFound` otherwise), at most
    /// once per idempotency key: see [`SendOutcome`].
    async fn send_message(
        &self,
        conversation_id: ConversationId,
        sender: UserId,
        content: &str,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<(SendOutcome, Changes), StoreError>;
    /// Forgets idempotency keys first used before `before`; returns how many.
    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64, StoreError>;
    /// A message and its earlier contents (oldest first, with the time each was replaced),
    /// read in one snapshot; `None` unless `viewer` is a member of its conversation.
    async fn message_versions(
        &self,
        id: MessageId,
        viewer: UserId,
    ) -> Result<Option<(Message, Vec<(String, Timestamp)>)>, StoreError>;
    /// The kind of conversation a message is in, if `viewer` is a member of it.
    async fn message_conversation_kind(
        &self,
        id: MessageId,
        viewer: UserId,
    ) -> Result<Option<ConversationKind>, StoreError>;
    /// Replaces a message's content, keeping the old version: see [`Altered`]. `NotFound`
    /// unless `editor` is a member of its conversation.
    async fn edit_message(
        &self,
        id: MessageId,
        editor: UserId,
        content: &str,
    ) -> Result<(Altered, Changes), StoreError>;
    /// Deletes a message for everyone, leaving a tombstone at its seq: see [`Altered`].
    /// `NotFound` unless `user` is a member of its conversation.
    async fn delete_message(
        &self,
        id: MessageId,
        user: UserId,
    ) -> Result<(Altered, Changes), StoreError>;
    /// Hides a message from one member's views only (`NotFound` for a non-member).
    async fn hide_message(&self, id: MessageId, user: UserId) -> Result<Changes, StoreError>;
}

// Taking the next seq locks the conversation row (and on SQLite the database, via BEGIN
// IMMEDIATE), so concurrent sends queue here and commit in sequence order with no gaps. The
// pair form needs no membership check: the pair are the members. (See `next_seq!`.)
const NEXT_SEQ_BY_PAIR: &str = next_seq!("direct_low = $1 AND direct_high = $2", "$3");
// Conversation `$1`, if the sender `$2` is one of its members.
macro_rules! by_id_for_member {
    () => {
        concat!("id = $1 AND ", caller_is_member!())
    };
}
const NEXT_SEQ_BY_ID: &str = next_seq!(by_id_for_member!(), "$3");
// PostgreSQL only: take the seq, insert, and append the members' events (their heads locked
// in ascending user id, as `append_events!` does) in one statement (one round trip, atomic
// on its own, the row locks held until it commits), for sends without an idempotency key. SQLite
// allows no UPDATE inside WITH; it runs the same statements one by one in a transaction.
macro_rules! send_in_one_statement {
    ($conversation:expr) => {
        concat!(
            "WITH slot AS (",
            next_seq!($conversation, "$3"),
            "), sent AS (INSERT INTO messages (conversation_id, seq, sender_id, content, created_at) \
             SELECT id, last_seq, $4, $5, last_message_at FROM slot RETURNING id), \
             locked AS (SELECT h.user_id FROM event_heads h WHERE h.user_id IN \
                 (SELECT cm.user_id FROM conversation_members cm JOIN slot ON cm.conversation_id = slot.id) \
                 ORDER BY h.user_id FOR UPDATE), \
             bumped AS (UPDATE event_heads h SET head = h.head + 1 FROM locked \
                 WHERE h.user_id = locked.user_id RETURNING h.user_id, h.head), \
             appended AS (INSERT INTO events (user_id, seq, kind, conversation_id, message_id, created_at) \
                 SELECT bumped.user_id, bumped.head, 'message.created', slot.id, sent.id, $3 \
                 FROM bumped, slot, sent RETURNING user_id, seq) \
             SELECT slot.id, slot.last_seq, slot.kind, slot.last_message_at, sent.id, \
             ARRAY(SELECT cm.user_id FROM conversation_members cm \
                 WHERE cm.conversation_id = slot.id ORDER BY cm.user_id), \
             ARRAY(SELECT user_id FROM appended ORDER BY user_id), \
             ARRAY(SELECT seq FROM appended ORDER BY user_id) FROM slot, sent"
        )
    };
}
const SEND_BY_PAIR_PG: &str = send_in_one_statement!("direct_low = $1 AND direct_high = $2");
// Direct conversations only: their members never change, so the members this statement's
// snapshot sees are the ones it commits with. A group's membership may change while a send
// waits for the conversation's row lock, so its sends take the transaction below, which reads
// the members again once it holds that lock.
const SEND_BY_ID_PG: &str =
    send_in_one_statement!(concat!(by_id_for_member!(), " AND kind = 'direct'"));
const CLOSED_FOR_MEMBER: &str = concat!(
    "SELECT closed_at FROM conversations WHERE ",
    by_id_for_member!()
);
const IS_MEMBER: &str =
    "SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $2";
const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (conversation_id, seq, sender_id, content, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
const PURGE_KEYS: &str = "DELETE FROM idempotency_keys WHERE created_at < $1";
// A message if `$2` is a member of its conversation.
macro_rules! member_message {
    () => {
        concat!(
            message_select!(),
            "JOIN conversation_members cm ON cm.conversation_id = m.conversation_id \
             AND cm.user_id = $2 WHERE m.id = $1"
        )
    };
}
const FOR_MEMBER: &str = member_message!();
const KIND_FOR_MEMBER: &str = "SELECT c.kind FROM messages m \
    JOIN conversations c ON c.id = m.conversation_id \
    JOIN conversation_members cm ON cm.conversation_id = c.id AND cm.user_id = $2 WHERE m.id = $1";
// The row an edit or delete changes, locked against concurrent ones so no version is lost.
// SQLite has no FOR UPDATE; its write transaction already excludes other writers.
// NO KEY: hides and versions, whose rows point at the message, need not wait for it.
const TO_ALTER_PG: &str = concat!(member_message!(), " FOR NO KEY UPDATE OF m");
const KEEP_VERSION: &str =
    "INSERT INTO message_versions (message_id, content, replaced_at) VALUES ($1, $2, $3)";
const REPLACE_CONTENT: &str = "UPDATE messages SET content = $2, edited_at = $3 WHERE id = $1";
const VERSIONS: &str =
    "SELECT content, replaced_at FROM message_versions WHERE message_id = $1 ORDER BY id";
// Deleting for everyone keeps the seq as a tombstone and forgets every version's text.
const TOMBSTONE: &str = "UPDATE messages SET content = '', deleted_at = $2 WHERE id = $1";
const FORGET_VERSIONS: &str = "DELETE FROM message_versions WHERE message_id = $1";
const HIDE: &str = "INSERT INTO hidden_messages (user_id, message_id) VALUES ($2, $1) \
    ON CONFLICT DO NOTHING";

/// In an edit or delete: message `$id` read in transaction `$tx` (on pool `$p`) and locked
/// until it ends, if `$user` is a member of its conversation (else the method returns
/// `NotFound`) and its sender (else it answers `Altered::NotSender`, changing nothing).
macro_rules! own_message {
    ($p:expr, $tx:expr, $id:expr, $user:expr) => {{
        let current: Option<Message> = sqlx::query_as($p.pick(TO_ALTER_PG, FOR_MEMBER))
            .bind($id)
            .bind($user)
            .fetch_optional(&mut *$tx)
            .await?;
        let message = current.ok_or(StoreError::NotFound)?;
        if message.kind != MessageKind::Text {
            return Ok((Altered::Notice, Vec::new()));
        }
        if message.sender_id != $user {
            return Ok((Altered::NotSender, Vec::new()));
        }
        message
    }};
}

/// Where a message goes.
#[derive(Clone, Copy)]
enum Target {
    /// The direct conversation of a pair (`low <= high`), which must exist already.
    Pair(UserId, UserId),
    /// A conversation by id, which the sender must be a member of.
    Conversation(ConversationId),
}

/// What taking a seq returns: conversation id, seq, kind, and the message's time.
type Slot = (ConversationId, i64, String, Timestamp);

/// A one-statement send's answer: its slot, the new message's id, the members, and the
/// events appended (their users, and the positions in the same order).
type SentRow = (
    ConversationId,
    i64,
    String,
    Timestamp,
    MessageId,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
);

/// The message a send created, from its slot (conversation, seq, time) and id.
fn created(
    conversation_id: ConversationId,
    seq: i64,
    sent_at: Timestamp,
    id: MessageId,
    sender: UserId,
    content: &str,
) -> Message {
    Message {
        id,
        conversation_id,
        seq,
        sender_id: sender,
        content: content.to_owned(),
        created_at: sent_at,
        edited_at: None,
        deleted_at: None,
        kind: MessageKind::Text,
        subject_id: None,
    }
}

fn message_created(message: &Message) -> ConversationChange {
    ConversationChange::MessageCreated {
        message: message.id,
        seq: message.seq,
    }
}

impl MessageStore for SqlStore {
    async fn send_direct_message(
        &self,
        sender: UserId,
        recipient: UserId,
        content: &str,
    ) -> Result<(DirectMessage, Changes), StoreError> {
        let (low, high) = ordered(sender, recipient);
        let target = Target::Pair(low, high);
        // The first message between two users finds no conversation: open it, then send.
        let (sent, changes) = match self.send_into(target, sender, content, None).await {
            Err(StoreError::NotFound) => {
                let (_, mut changes) = self.open_direct_conversation(sender, recipient).await?;
                let (sent, sent_changes) = self.send_into(target, sender, content, None).await?;
                changes.extend(sent_changes);
                (sent, changes)
            }
            other => other?,
        };
        match sent {
            SendOutcome::Created(message) | SendOutcome::Replayed(message) => Ok((
                DirectMessage {
                    message,
                    recipient_id: recipient,
                },
                changes,
            )),
            SendOutcome::KeyReused => Err(StoreError::NotFound),
        }
    }

    async fn send_message(
        &self,
        conversation_id: ConversationId,
        sender: UserId,
        content: &str,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<(SendOutcome, Changes), StoreError> {
        self.send_into(
            Target::Conversation(conversation_id),
            sender,
            content,
            idempotency,
        )
        .await
    }

    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
        Ok(on_writer!(self, p => {
            sqlx::query(PURGE_KEYS).bind(before).execute(p).await?.rows_affected()
        }))
    }

    async fn message_versions(
        &self,
        id: MessageId,
        viewer: UserId,
    ) -> Result<Option<(Message, Vec<(String, Timestamp)>)>, StoreError> {
        Ok(on_pool!(self, p => {
            let mut tx = p.begin_snapshot().await?;
            let message: Option<Message> = sqlx::query_as(FOR_MEMBER).bind(id).bind(viewer)
                .fetch_optional(&mut *tx).await?;
            let found = match message {
                Some(message) => {
                    let earlier = sqlx::query_as(VERSIONS).bind(id).fetch_all(&mut *tx).await?;
                    Some((message, earlier))
                }
                None => None,
            };
            tx.commit().await?;
            found
        }))
    }

    async fn message_conversation_kind(
        &self,
        id: MessageId,
        viewer: UserId,
    ) -> Result<Option<ConversationKind>, StoreError> {
        let kind: Option<String> = on_pool!(self, p => {
            sqlx::query_scalar(KIND_FOR_MEMBER).bind(id).bind(viewer).fetch_optional(p).await
        })?;
        Ok(kind.map(decode).transpose()?)
    }

    async fn edit_message(
        &self,
        id: MessageId,
        editor: UserId,
        content: &str,
    ) -> Result<(Altered, Changes), StoreError> {
        let now = Timestamp::now();
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            let mut message = own_message!(p, tx, id, editor);
            if message.deleted_at.is_some() {
                return Ok((Altered::Deleted, Vec::new()));
            }
            sqlx::query(KEEP_VERSION).bind(id).bind(&message.content).bind(now)
                .execute(&mut *tx).await?;
            sqlx::query(REPLACE_CONTENT).bind(id).bind(content).bind(now)
                .execute(&mut *tx).await?;
            let what = ConversationChange::MessageEdited { message: id, seq: message.seq };
            hold_membership!(p, tx, message.conversation_id);
            let change = change_in!(p, tx, message.conversation_id, what);
            tx.commit().await?;
            message.content = content.to_owned();
            message.edited_at = Some(now);
            Ok((Altered::Done(message), vec![change]))
        })
    }

    /// Deleting keeps the seq, as a tombstone with no content and no history.
    async fn delete_message(
        &self,
        id: MessageId,
        user: UserId,
    ) -> Result<(Altered, Changes), StoreError> {
        let now = Timestamp::now();
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            let mut message = own_message!(p, tx, id, user);
            if message.deleted_at.is_some() {
                return Ok((Altered::Done(message), Vec::new()));
            }
            sqlx::query(TOMBSTONE).bind(id).bind(now).execute(&mut *tx).await?;
            sqlx::query(FORGET_VERSIONS).bind(id).execute(&mut *tx).await?;
            let what = ConversationChange::MessageDeleted { message: id, seq: message.seq };
            hold_membership!(p, tx, message.conversation_id);
            let change = change_in!(p, tx, message.conversation_id, what);
            tx.commit().await?;
            message.content.clear();
            message.deleted_at = Some(now);
            Ok((Altered::Done(message), vec![change]))
        })
    }

    async fn hide_message(&self, id: MessageId, user: UserId) -> Result<Changes, StoreError> {
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            let visible: Option<Message> = sqlx::query_as(FOR_MEMBER).bind(id).bind(user)
                .fetch_optional(&mut *tx).await?;
            let message = visible.ok_or(StoreError::NotFound)?;
            let hidden = sqlx::query(HIDE).bind(id).bind(user).execute(&mut *tx).await?;
            if hidden.rows_affected() == 0 {
                // Hidden before: nothing changes.
                return Ok(Vec::new());
            }
            let what = ConversationChange::MessageHidden { message: id, seq: message.seq, by: user };
            hold_membership!(p, tx, message.conversation_id);
            let change = change_in!(p, tx, message.conversation_id, what);
            tx.commit().await?;
            Ok(vec![change])
        })
    }
}

impl SqlStore {
    /// Sends into `target` in one transaction: claim the idempotency key (if any), take the
    /// next seq, insert (on PostgreSQL without a key: one statement, one round trip). A
    /// replay or a refused key touches no seq. `NotFound` when there is no such
    /// conversation, or the sender is not in it.
    async fn send_into(
        &self,
        target: Target,
        sender: UserId,
        content: &str,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<(SendOutcome, Changes), StoreError> {
        let now = Timestamp::now();
        if let (DbPool::Postgres(pool), None) = (&self.pool, idempotency) {
            self.fault_point().await?;
            let _timed = crate::pool::Timed::start("write");
            let sent: Option<SentRow> = match target {
                Target::Pair(low, high) => sqlx::query_as(SEND_BY_PAIR_PG).bind(low).bind(high),
                Target::Conversation(id) => sqlx::query_as(SEND_BY_ID_PG).bind(id).bind(sender),
            }
            .bind(now)
            .bind(sender)
            .bind(content)
            .fetch_optional(pool)
            .await?;
            match (sent, target) {
                (Some(sent), _) => return sent_in_one_statement(sent, sender, content),
                (None, Target::Pair(..)) => return Err(StoreError::NotFound),
                // No such conversation, not a member, or a group: the transaction below.
                (None, Target::Conversation(_)) => {}
            }
        }
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            if let Some(key) = idempotency {
                match claim_key!(tx, sender, key, now) {
                    Claim::New => {}
                    Claim::Earlier { same_request: false, .. } => {
                        return Ok((SendOutcome::KeyReused, Vec::new()));
                    }
                    Claim::Earlier { message, .. } => {
                        // Read as the sender may see it now: one who has left the group since
                        // gets `NotFound`, as for anything else of it. (A key without its
                        // message cannot be: they are stored in one transaction and deleted
                        // together, ON DELETE CASCADE; answered as not found, not trusted.)
                        let earlier: Option<Message> = match message {
                            Some(id) => sqlx::query_as(FOR_MEMBER).bind(id).bind(sender)
                                .fetch_optional(&mut *tx).await?,
                            None => None,
                        };
                        let earlier = earlier.ok_or(StoreError::NotFound)?;
                        return Ok((SendOutcome::Replayed(earlier), Vec::new()));
                    }
                }
            }
            let slot: Option<Slot> = match target {
                Target::Pair(low, high) => sqlx::query_as(NEXT_SEQ_BY_PAIR).bind(low).bind(high),
                Target::Conversation(id) => sqlx::query_as(NEXT_SEQ_BY_ID).bind(id).bind(sender),
            }
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(slot) = slot else {
                // Say why when the sender may know: a conversation of theirs that is closed.
                if let Target::Conversation(id) = target {
                    let closed: Option<Option<Timestamp>> = sqlx::query_scalar(CLOSED_FOR_MEMBER)
                        .bind(id).bind(sender).fetch_optional(&mut *tx).await?;
                    if closed.flatten().is_some() {
                        return Err(StoreError::Closed);
                    }
                }
                return Err(StoreError::NotFound);
            };
            let (conversation_id, seq, ref kind, sent_at) = slot;
            // Holding the conversation's row now, look again: a removal that committed while
            // this send waited for it (PostgreSQL checked membership before the wait).
            if kind == ConversationKind::Group.as_str() {
                sqlx::query(IS_MEMBER).bind(conversation_id).bind(sender)
                    .fetch_optional(&mut *tx).await?.ok_or(StoreError::NotFound)?;
            }
            let id: MessageId = sqlx::query_scalar(INSERT_MESSAGE)
                .bind(conversation_id).bind(seq).bind(sender).bind(content).bind(sent_at)
                .fetch_one(&mut *tx).await?;
            if let Some(key) = idempotency {
                sqlx::query(RECORD_KEY_MESSAGE).bind(sender).bind(key.key).bind(id)
                    .execute(&mut *tx).await?;
            }
            let message = created(conversation_id, seq, sent_at, id, sender, content);
            let change = change_in!(p, tx, conversation_id, message_created(&message));
            tx.commit().await?;
            Ok((SendOutcome::Created(message), vec![change]))
        })
    }
}

/// The answer of a one-statement send (PostgreSQL), as a send's outcome and change.
fn sent_in_one_statement(
    sent: SentRow,
    sender: UserId,
    content: &str,
) -> Result<(SendOutcome, Changes), StoreError> {
    let (conversation, seq, kind, sent_at, id, members, recipients, positions) = sent;
    let message = created(conversation, seq, sent_at, id, sender, content);
    let change = Change::Conversation {
        conversation,
        kind: decode(kind)?,
        members: members.into_iter().map(UserId).collect(),
        what: message_created(&message),
        events: recipients.into_iter().map(UserId).zip(positions).collect(),
    };
    Ok((SendOutcome::Created(message), vec![change]))
}
