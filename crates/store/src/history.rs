//! Reading messages: `/v1`'s keyset windows of one conversation, and the compatibility faces'
//! offset lists of direct messages. A message a user hid ("delete for me") is left out of
//! everything that user reads.

use crate::conversations::ordered;
use crate::ids::{ConversationId, UserId};
use crate::pool::{Begin, on_pool};
use crate::sql::{caller_is_member, message_select, not_hidden_from};
use crate::{DirectMessage, HistoryWindow, Message, MessageWindow, Page, SqlStore, StoreError};

/// Reading a conversation's messages.
#[allow(async_fn_in_trait)] // used through `SqlStore` itself, never as `dyn` or generically
pub trait HistoryStore {
    /// Up to `limit` messages of a conversation in ascending `seq`, as member `viewer` sees
    /// them; `NotFound` for a non-member.
    async fn conversation_messages(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        window: HistoryWindow,
        limit: i64,
    ) -> Result<MessageWindow, StoreError>;
    /// The `limit` most recent messages the user sent or received in direct conversations,
    /// after skipping the `offset` most recent, listed oldest first.
    async fn messages_of_user(
        &self,
        user: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DirectMessage>, StoreError>;
    /// The direct conversation between `user` and `peer`, newest first, with its total size
    /// (empty when they have none).
    async fn direct_history(
        &self,
        user: UserId,
        peer: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Page<DirectMessage>, StoreError>;
}

// The recipient of a direct message is the other member (the sender, in notes to self).
const OF_USER: &str = concat!(
    "SELECT m.id, m.conversation_id, m.seq, m.sender_id, m.content, m.created_at, \
     m.edited_at, m.deleted_at, m.kind, m.subject_id, COALESCE((SELECT o.user_id FROM conversation_members o \
         WHERE o.conversation_id = m.conversation_id AND o.user_id <> m.sender_id), m.sender_id) \
         AS recipient_id \
     FROM messages m JOIN conversations c ON c.id = m.conversation_id AND c.kind = 'direct' \
     JOIN conversation_members cm ON cm.conversation_id = m.conversation_id \
     WHERE cm.user_id = $1 AND m.deleted_at IS NULL AND ",
    not_hidden_from!("$1"),
    " ORDER BY m.id DESC LIMIT $2 OFFSET $3"
);
// The pair's conversation, found by the index that keeps it unique.
macro_rules! direct_pair {
    () => {
        "m.conversation_id = (SELECT c.id FROM conversations c \
         WHERE c.kind = 'direct' AND c.direct_low = $1 AND c.direct_high = $2)"
    };
}
const DIRECT_HISTORY: &str = concat!(
    message_select!(),
    "WHERE ",
    direct_pair!(),
    " AND m.deleted_at IS NULL AND ",
    not_hidden_from!("$3"),
    " ORDER BY m.seq DESC LIMIT $4 OFFSET $5"
);
const DIRECT_COUNT: &str = concat!(
    "SELECT COUNT(*) FROM messages m WHERE ",
    direct_pair!(),
    " AND m.deleted_at IS NULL AND ",
    not_hidden_from!("$3")
);
// Tombstones are part of a conversation's history (their seq is), hidden messages are not.
// Only a member reads: a non-member's read finds no rows.
macro_rules! window {
    ($direction:literal, $order:literal) => {
        concat!(
            message_select!(),
            "WHERE m.conversation_id = $1 AND m.seq ",
            $direction,
            " $3 AND ",
            not_hidden_from!("$2"),
            " AND ",
            caller_is_member!(),
            " ORDER BY m.seq ",
            $order,
            " LIMIT $4"
        )
    };
}
const WINDOW_BEFORE: &str = window!("<", "DESC");
const WINDOW_AFTER: &str = window!(">", "ASC");
const IS_MEMBER: &str =
    "SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $2";

impl HistoryStore for SqlStore {
    /// The window is read with the membership check in the same statement. Only an empty
    /// window costs a second look, to tell "nothing there" from "not yours".
    async fn conversation_messages(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        window: HistoryWindow,
        limit: i64,
    ) -> Result<MessageWindow, StoreError> {
        let (sql, cursor) = match window {
            HistoryWindow::Latest => (WINDOW_BEFORE, i64::MAX),
            HistoryWindow::Before(seq) => (WINDOW_BEFORE, seq),
            HistoryWindow::After(seq) => (WINDOW_AFTER, seq),
        };
        // One more than asked tells whether there is more, without a count.
        let mut messages: Vec<Message> = on_pool!(self, p => {
            sqlx::query_as(sql)
                .bind(conversation_id).bind(viewer).bind(cursor).bind(limit + 1)
                .fetch_all(p).await
        })?;
        if messages.is_empty() {
            let member: Option<i32> = on_pool!(self, p => {
                sqlx::query_scalar(IS_MEMBER).bind(conversation_id).bind(viewer)
                    .fetch_optional(p).await
            })?;
            member.ok_or(StoreError::NotFound)?;
        }
        let has_more = messages.len() as i64 > limit;
        messages.truncate(usize::try_from(limit).unwrap_or(0));
        if !matches!(window, HistoryWindow::After(_)) {
            messages.reverse();
        }
        Ok(MessageWindow { messages, has_more })
    }

    /// The window is counted from the newest message, so a client that polls without
    /// paging always sees what arrived last; it is returned oldest first.
    async fn messages_of_user(
        &self,
        user: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DirectMessage>, StoreError> {
        let mut newest_first: Vec<DirectMessage> = on_pool!(self, p => {
            sqlx::query_as(OF_USER).bind(user).bind(limit).bind(offset).fetch_all(p).await
        })?;
        newest_first.reverse();
        Ok(newest_first)
    }

    async fn direct_history(
        &self,
        user: UserId,
        peer: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Page<DirectMessage>, StoreError> {
        let (low, high) = ordered(user, peer);
        // The page and its total come from one snapshot, so they always agree.
        let (items, total) = on_pool!(self, p => {
            let mut tx = p.begin_snapshot().await?;
            let items: Vec<Message> = sqlx::query_as(DIRECT_HISTORY)
                .bind(low).bind(high).bind(user).bind(limit).bind(offset)
                .fetch_all(&mut *tx).await?;
            let total: i64 = sqlx::query_scalar(DIRECT_COUNT)
                .bind(low).bind(high).bind(user)
                .fetch_one(&mut *tx).await?;
            tx.commit().await?;
            (items, total)
        });
        let items = items
            .into_iter()
            .map(|message| {
                let recipient_id = if message.sender_id == user {
                    peer
                } else {
                    user
                };
                DirectMessage {
                    message,
                    recipient_id,
                }
            })
            .collect();
        Ok(Page { items, total })
    }
}
