//! Reading messages: the faces' offset lists and `/v1`'s keyset windows. A message a user
//! hid ("delete for me") is left out of everything that user reads.

use crate::conversations::ordered;
use crate::ids::{ConversationId, UserId};
use crate::pool::{Begin, on_pool};
use crate::sql::{Dialect, message_select, not_hidden_from};
use crate::{HistoryWindow, Message, MessageWindow, Page, SqlStore, StoreError};

const OF_USER: &str = concat!(
    message_select!(),
    "JOIN conversation_members cm ON cm.conversation_id = m.conversation_id \
     WHERE cm.user_id = $1 AND m.deleted_at IS NULL AND ",
    not_hidden_from!("$1"),
    " ORDER BY m.id DESC LIMIT $2 OFFSET $3"
);
const DIRECT_HISTORY: &str = concat!(
    message_select!(),
    "WHERE c.direct_low = $1 AND c.direct_high = $2 AND m.deleted_at IS NULL AND ",
    not_hidden_from!("$3"),
    " ORDER BY m.seq DESC LIMIT $4 OFFSET $5"
);
const DIRECT_COUNT: &str = concat!(
    "SELECT COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id \
     WHERE c.direct_low = $1 AND c.direct_high = $2 AND m.deleted_at IS NULL AND ",
    not_hidden_from!("$3")
);
// A read that sees one snapshot throughout. PostgreSQL's default (read committed) gives each
// statement its own; in SQLite's WAL mode a transaction keeps the snapshot of its first read.
const SNAPSHOT_PG: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
const SNAPSHOT_SQLITE: &str = "BEGIN";
// Tombstones are part of a conversation's history (their seq is), hidden messages are not.
const WINDOW_BEFORE: &str = concat!(
    message_select!(),
    "WHERE m.conversation_id = $1 AND m.seq < $3 AND ",
    not_hidden_from!("$2"),
    " ORDER BY m.seq DESC LIMIT $4"
);
const WINDOW_AFTER: &str = concat!(
    message_select!(),
    "WHERE m.conversation_id = $1 AND m.seq > $3 AND ",
    not_hidden_from!("$2"),
    " ORDER BY m.seq ASC LIMIT $4"
);

impl SqlStore {
    /// The window is counted from the newest message, so a client that polls without
    /// paging always sees what arrived last; it is returned oldest first.
    pub(crate) async fn list_user_messages(
        &self,
        user: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let mut newest_first: Vec<Message> = on_pool!(&self.pool, p => {
            sqlx::query_as(OF_USER).bind(user).bind(limit).bind(offset).fetch_all(p).await
        })?;
        newest_first.reverse();
        Ok(newest_first)
    }

    pub(crate) async fn list_direct_history(
        &self,
        user: UserId,
        peer: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Page<Message>, StoreError> {
        let (low, high) = ordered(user, peer);
        // The page and its total come from one snapshot, so they always agree.
        let (items, total) = on_pool!(&self.pool, p => {
            let mut tx = p.begin_detached(p.pick(SNAPSHOT_PG, SNAPSHOT_SQLITE)).await?;
            let items: Vec<Message> = sqlx::query_as(DIRECT_HISTORY)
                .bind(low).bind(high).bind(user).bind(limit).bind(offset)
                .fetch_all(&mut *tx).await?;
            let total: i64 = sqlx::query_scalar(DIRECT_COUNT)
                .bind(low).bind(high).bind(user)
                .fetch_one(&mut *tx).await?;
            tx.commit().await?;
            (items, total)
        });
        Ok(Page { items, total })
    }

    /// Up to `limit` messages of a conversation in ascending seq. The caller has checked that
    /// `viewer` is a member.
    pub(crate) async fn read_window(
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
        let mut messages: Vec<Message> = on_pool!(&self.pool, p => {
            sqlx::query_as(sql)
                .bind(conversation_id).bind(viewer).bind(cursor).bind(limit + 1)
                .fetch_all(p).await
        })?;
        let has_more = messages.len() as i64 > limit;
        messages.truncate(usize::try_from(limit).unwrap_or(0));
        if !matches!(window, HistoryWindow::After(_)) {
            messages.reverse();
        }
        Ok(MessageWindow { messages, has_more })
    }
}
