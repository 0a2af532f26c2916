//! Sending, editing and listing messages.

use crate::conversations::ordered;
use crate::pool::{BeginWrite, on_pool};
use crate::sql::{Dialect, message_select};
use crate::{Message, Page, SqlStore, StoreError, Timestamp};

// Taking the next seq is the transaction's first statement: it locks the conversation row (and
// on SQLite the database, via BEGIN IMMEDIATE), so concurrent sends queue here and commit in
// sequence order with no gaps.
const NEXT_SEQ: &str = "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = $3 \
    WHERE direct_low = $1 AND direct_high = $2 RETURNING id, last_seq";
const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (conversation_id, seq, sender_id, content, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
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
const OF_USER: &str = concat!(
    message_select!(),
    "JOIN conversation_members cm ON cm.conversation_id = m.conversation_id \
     WHERE cm.user_id = $1 AND m.deleted_at IS NULL ORDER BY m.id LIMIT $2 OFFSET $3"
);
const DIRECT_HISTORY: &str = concat!(
    message_select!(),
    "WHERE c.direct_low = $1 AND c.direct_high = $2 AND m.deleted_at IS NULL \
     ORDER BY m.seq DESC LIMIT $3 OFFSET $4"
);
const DIRECT_COUNT: &str = "SELECT COUNT(*) FROM messages m \
    JOIN conversations c ON c.id = m.conversation_id \
    WHERE c.direct_low = $1 AND c.direct_high = $2 AND m.deleted_at IS NULL";

impl SqlStore {
    pub(crate) async fn send_direct(
        &self,
        sender: i64,
        recipient: i64,
        content: &str,
    ) -> Result<Message, StoreError> {
        let (low, high) = ordered(sender, recipient);
        // The first message between two users finds no conversation: open it, then send.
        if let Some(message) = self.try_send(low, high, sender, content).await? {
            return Ok(message);
        }
        self.open_direct(sender, recipient).await?;
        self.try_send(low, high, sender, content)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Sends into the pair's conversation, or returns `None` when it does not exist yet.
    async fn try_send(
        &self,
        low: i64,
        high: i64,
        sender: i64,
        content: &str,
    ) -> Result<Option<Message>, StoreError> {
        let now = Timestamp::now();
        let recipient_id = if sender == low { high } else { low };
        on_pool!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            let slot: Option<(i64, i64)> = sqlx::query_as(NEXT_SEQ)
                .bind(low)
                .bind(high)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((conversation_id, seq)) = slot else {
                return Ok(None);
            };
            let id: i64 = sqlx::query_scalar(INSERT_MESSAGE)
                .bind(conversation_id)
                .bind(seq)
                .bind(sender)
                .bind(content)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(Message {
                id,
                conversation_id,
                seq,
                sender_id: sender,
                recipient_id,
                content: content.to_owned(),
                created_at: now,
                edited_at: None,
                deleted_at: None,
            }))
        })
    }

    pub(crate) async fn find_message(&self, id: i64) -> Result<Option<Message>, StoreError> {
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(BY_ID).bind(id).fetch_optional(p).await
        })?)
    }

    pub(crate) async fn replace_content(
        &self,
        id: i64,
        editor: i64,
        content: &str,
    ) -> Result<Message, StoreError> {
        let now = Timestamp::now();
        on_pool!(&self.pool, p => {
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
        id: i64,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(VERSIONS).bind(id).fetch_all(p).await
        })?)
    }

    pub(crate) async fn list_user_messages(
        &self,
        user: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(OF_USER).bind(user).bind(limit).bind(offset).fetch_all(p).await
        })?)
    }

    pub(crate) async fn list_direct_history(
        &self,
        user: i64,
        peer: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Page<Message>, StoreError> {
        let (low, high) = ordered(user, peer);
        let (items, total) = on_pool!(&self.pool, p => {
            let items: Vec<Message> = sqlx::query_as(DIRECT_HISTORY)
                .bind(low)
                .bind(high)
                .bind(limit)
                .bind(offset)
                .fetch_all(p)
                .await?;
            let total: i64 = sqlx::query_scalar(DIRECT_COUNT)
                .bind(low)
                .bind(high)
                .fetch_one(p)
                .await?;
            (items, total)
        });
        Ok(Page { items, total })
    }
}
