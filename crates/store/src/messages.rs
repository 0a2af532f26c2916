//! Sending, editing and deleting messages.

use crate::conversations::ordered;
use crate::ids::{ConversationId, MessageId, UserId};
use crate::pool::{Begin, DbPool, on_pool, on_writer};
use crate::sql::{Dialect, message_select};
use crate::{Idempotency, Message, SendOutcome, SqlStore, StoreError, Timestamp};

// Taking the next seq locks the conversation row (and on SQLite the database, via BEGIN
// IMMEDIATE), so concurrent sends queue here and commit in sequence order with no gaps. The
// pair form needs no membership check: the pair are the members.
//
// The message's time is taken here too, under the lock: the clock reading from before the
// wait, or a microsecond after the previous message if that is later. So `created_at` rises
// with `seq`, and the conversation's activity time (its newest message's) never goes back.
macro_rules! next_seq {
    ($conversation:literal) => {
        concat!(
            "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = CASE \
             WHEN $3 > COALESCE(last_message_at, 0) THEN $3 ELSE last_message_at + 1 END \
             WHERE ",
            $conversation,
            " RETURNING id, last_seq, direct_low, direct_high, last_message_at"
        )
    };
}
const NEXT_SEQ_BY_PAIR: &str = next_seq!("direct_low = $1 AND direct_high = $2");
const NEXT_SEQ_BY_ID: &str = next_seq!(
    "id = $1 AND EXISTS (SELECT 1 FROM conversation_members cm \
     WHERE cm.conversation_id = $1 AND cm.user_id = $2)"
);
// PostgreSQL only: take the seq and insert in one statement (one round trip, atomic on its
// own, the row lock held until it commits), for sends without an idempotency key. SQLite
// allows no UPDATE inside WITH; it runs the two statements in a transaction instead.
macro_rules! send_in_one_statement {
    ($conversation:literal) => {
        concat!(
            "WITH slot AS (",
            next_seq!($conversation),
            "), sent AS (INSERT INTO messages (conversation_id, seq, sender_id, content, created_at) \
             SELECT id, last_seq, $4, $5, last_message_at FROM slot RETURNING id) \
             SELECT slot.id, slot.last_seq, slot.direct_low, slot.direct_high, \
             slot.last_message_at, sent.id FROM slot, sent"
        )
    };
}
const SEND_BY_PAIR_PG: &str = send_in_one_statement!("direct_low = $1 AND direct_high = $2");
const SEND_BY_ID_PG: &str = send_in_one_statement!(
    "id = $1 AND EXISTS (SELECT 1 FROM conversation_members cm \
     WHERE cm.conversation_id = $1 AND cm.user_id = $2)"
);
const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (conversation_id, seq, sender_id, content, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
// Claims an idempotency key for this request; nothing comes back if it was claimed before (on
// PostgreSQL, after waiting for a concurrent claimer to commit).
const CLAIM_KEY: &str = "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, created_at) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, idem_key) DO NOTHING RETURNING user_id";
const EARLIER_CLAIM: &str = "SELECT request_hash, message_id, created_at FROM idempotency_keys \
    WHERE user_id = $1 AND idem_key = $2";
const RECLAIM_EXPIRED_KEY: &str = "UPDATE idempotency_keys \
    SET request_hash = $3, created_at = $4, message_id = NULL \
    WHERE user_id = $1 AND idem_key = $2 AND created_at < $5";
const RECORD_KEY_MESSAGE: &str =
    "UPDATE idempotency_keys SET message_id = $3 WHERE user_id = $1 AND idem_key = $2";
const PURGE_KEYS: &str = "DELETE FROM idempotency_keys WHERE created_at < $1";
const BY_ID: &str = concat!(message_select!(), "WHERE m.id = $1");
// The row an edit replaces, locked against concurrent edits so no version is lost. SQLite
// has no FOR UPDATE; its write transaction already excludes other writers.
const EDITABLE_PG: &str = concat!(
    message_select!(),
    "WHERE m.id = $1 AND m.sender_id = $2 AND m.deleted_at IS NULL FOR UPDATE OF m"
);
const EDITABLE_SQLITE: &str = concat!(
    message_select!(),
    "WHERE m.id = $1 AND m.sender_id = $2 AND m.deleted_at IS NULL"
);
const KEEP_VERSION: &str =
    "INSERT INTO message_versions (message_id, content, replaced_at) VALUES ($1, $2, $3)";
const REPLACE_CONTENT: &str = "UPDATE messages SET content = $2, edited_at = $3 WHERE id = $1";
const VERSIONS: &str =
    "SELECT content, replaced_at FROM message_versions WHERE message_id = $1 ORDER BY id";
// Deleting for everyone keeps the seq as a tombstone and forgets every version's text.
const TOMBSTONE: &str = "UPDATE messages SET content = '', deleted_at = $3 \
    WHERE id = $1 AND sender_id = $2 AND deleted_at IS NULL";
const FORGET_VERSIONS: &str = "DELETE FROM message_versions WHERE message_id = $1";
const HIDE: &str = "INSERT INTO hidden_messages (user_id, message_id) \
    SELECT $2, m.id FROM messages m JOIN conversation_members cm \
    ON cm.conversation_id = m.conversation_id AND cm.user_id = $2 WHERE m.id = $1 \
    ON CONFLICT DO NOTHING";
const VISIBLE_TO: &str = "SELECT 1 FROM messages m JOIN conversation_members cm \
    ON cm.conversation_id = m.conversation_id AND cm.user_id = $2 WHERE m.id = $1";

/// Where a message goes.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// The direct conversation of a pair (`low <= high`), which must exist already.
    Pair(UserId, UserId),
    /// A conversation by id, which the sender must be a member of.
    Conversation(ConversationId),
}

/// What taking a seq returns: conversation id, seq, the pair, and the message's time.
type Slot = (
    ConversationId,
    i64,
    Option<UserId>,
    Option<UserId>,
    Timestamp,
);

/// A one-statement send's answer: its slot, then the new message's id.
type SentRow = (
    ConversationId,
    i64,
    Option<UserId>,
    Option<UserId>,
    Timestamp,
    MessageId,
);

/// The message a send created, from its slot and id.
fn created(slot: Slot, id: MessageId, sender: UserId, content: &str) -> Message {
    let (conversation_id, seq, low, high, sent_at) = slot;
    let (low, high) = (low.unwrap_or(sender), high.unwrap_or(sender));
    Message {
        id,
        conversation_id,
        seq,
        sender_id: sender,
        recipient_id: if sender == low { high } else { low },
        content: content.to_owned(),
        created_at: sent_at,
        edited_at: None,
        deleted_at: None,
    }
}

impl SqlStore {
    pub(crate) async fn send_direct(
        &self,
        sender: UserId,
        recipient: UserId,
        content: &str,
    ) -> Result<Message, StoreError> {
        let (low, high) = ordered(sender, recipient);
        let target = Target::Pair(low, high);
        // The first message between two users finds no conversation: open it, then send.
        let sent = match self.send_into(target, sender, content, None).await {
            Err(StoreError::NotFound) => {
                self.open_direct(sender, recipient).await?;
                self.send_into(target, sender, content, None).await?
            }
            other => other?,
        };
        match sent {
            SendOutcome::Created(message) | SendOutcome::Replayed(message) => Ok(message),
            SendOutcome::KeyReused => Err(StoreError::NotFound),
        }
    }

    /// Sends into `target` in one transaction: claim the idempotency key (if any), take the
    /// next seq, insert (on PostgreSQL without a key: one statement, one round trip). A replay or a refused key touches no seq. `NotFound` when there is no
    /// such conversation, or the sender is not in it.
    pub(crate) async fn send_into(
        &self,
        target: Target,
        sender: UserId,
        content: &str,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<SendOutcome, StoreError> {
        let now = Timestamp::now();
        if let (DbPool::Postgres(pool), None) = (&self.pool, idempotency) {
            let sent: Option<SentRow> = match target {
                Target::Pair(low, high) => sqlx::query_as(SEND_BY_PAIR_PG).bind(low).bind(high),
                Target::Conversation(id) => sqlx::query_as(SEND_BY_ID_PG).bind(id).bind(sender),
            }
            .bind(now)
            .bind(sender)
            .bind(content)
            .fetch_optional(pool)
            .await?;
            let (conversation, seq, low, high, sent_at, id) = sent.ok_or(StoreError::NotFound)?;
            let slot = (conversation, seq, low, high, sent_at);
            return Ok(SendOutcome::Created(created(slot, id, sender, content)));
        }
        on_writer!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            if let Some(key) = idempotency {
                let claimed: Option<UserId> = sqlx::query_scalar(CLAIM_KEY)
                    .bind(sender).bind(key.key).bind(key.request_hash).bind(now)
                    .fetch_optional(&mut *tx).await?;
                if claimed.is_none() {
                    let earlier: (String, Option<MessageId>, Timestamp) = sqlx::query_as(EARLIER_CLAIM)
                        .bind(sender).bind(key.key).fetch_one(&mut *tx).await?;
                    let (mut request_hash, mut message_id, first_used) = earlier;
                    let reclaimed = first_used < key.expires_before
                        && sqlx::query(RECLAIM_EXPIRED_KEY)
                            .bind(sender).bind(key.key).bind(key.request_hash).bind(now)
                            .bind(key.expires_before)
                            .execute(&mut *tx).await?.rows_affected() == 1;
                    if !reclaimed {
                        if first_used < key.expires_before {
                            // A concurrent send reclaimed the expired key first (PostgreSQL
                            // made this one wait for it): answer from what that send stored.
                            let current: (String, Option<MessageId>, Timestamp) =
                                sqlx::query_as(EARLIER_CLAIM)
                                    .bind(sender).bind(key.key).fetch_one(&mut *tx).await?;
                            (request_hash, message_id) = (current.0, current.1);
                        }
                        if request_hash != key.request_hash {
                            return Ok(SendOutcome::KeyReused);
                        }
                        let earlier_message: Option<Message> = match message_id {
                            Some(id) => sqlx::query_as(BY_ID).bind(id).fetch_optional(&mut *tx).await?,
                            None => None,
                        };
                        // Not reachable: a key and its message are stored in one transaction and
                        // deleted together (ON DELETE CASCADE). Answered as not found rather
                        // than trusted.
                        return earlier_message
                            .map(SendOutcome::Replayed)
                            .ok_or(StoreError::NotFound);
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
                return Err(StoreError::NotFound);
            };
            let (conversation_id, seq, _, _, sent_at) = slot;
            let id: MessageId = sqlx::query_scalar(INSERT_MESSAGE)
                .bind(conversation_id).bind(seq).bind(sender).bind(content).bind(sent_at)
                .fetch_one(&mut *tx).await?;
            if let Some(key) = idempotency {
                sqlx::query(RECORD_KEY_MESSAGE).bind(sender).bind(key.key).bind(id)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(SendOutcome::Created(created(slot, id, sender, content)))
        })
    }

    pub(crate) async fn purge_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
        Ok(on_writer!(&self.pool, p => {
            sqlx::query(PURGE_KEYS).bind(before).execute(p).await?.rows_affected()
        }))
    }

    pub(crate) async fn find_message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(BY_ID).bind(id).fetch_optional(p).await
        })?)
    }

    pub(crate) async fn replace_content(
        &self,
        id: MessageId,
        editor: UserId,
        content: &str,
    ) -> Result<Message, StoreError> {
        let now = Timestamp::now();
        on_writer!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            let current: Option<Message> = sqlx::query_as(p.pick(EDITABLE_PG, EDITABLE_SQLITE))
                .bind(id)
                .bind(editor)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(mut message) = current else {
                return Err(StoreError::NotFound);
            };
            sqlx::query(KEEP_VERSION)
                .bind(id)
                .bind(&message.content)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(REPLACE_CONTENT)
                .bind(id)
                .bind(content)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            message.content = content.to_owned();
            message.edited_at = Some(now);
            Ok(message)
        })
    }

    pub(crate) async fn versions_of(
        &self,
        id: MessageId,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(VERSIONS).bind(id).fetch_all(p).await
        })?)
    }

    /// Deletes a message for everyone: its seq stays, as a tombstone with no content and no
    /// history. Only the sender may; deleting a tombstone again changes nothing.
    pub(crate) async fn tombstone(
        &self,
        id: MessageId,
        sender: UserId,
    ) -> Result<Message, StoreError> {
        let now = Timestamp::now();
        on_writer!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            let deleted = sqlx::query(TOMBSTONE).bind(id).bind(sender).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if deleted == 1 {
                sqlx::query(FORGET_VERSIONS).bind(id).execute(&mut *tx).await?;
            }
            let message: Option<Message> =
                sqlx::query_as(BY_ID).bind(id).fetch_optional(&mut *tx).await?;
            tx.commit().await?;
            match message {
                Some(message) if message.sender_id == sender => Ok(message),
                _ => Err(StoreError::NotFound),
            }
        })
    }

    /// Hides a message from one member's views. `NotFound` unless the user is a member of
    /// its conversation.
    pub(crate) async fn hide(&self, id: MessageId, user: UserId) -> Result<(), StoreError> {
        on_writer!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            let visible: Option<i32> = sqlx::query_scalar(VISIBLE_TO).bind(id).bind(user)
                .fetch_optional(&mut *tx).await?;
            if visible.is_none() {
                return Err(StoreError::NotFound);
            }
            sqlx::query(HIDE).bind(id).bind(user).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}
