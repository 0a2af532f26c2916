//! Read positions and unread counts. An unread count is derived, never stored: messages from
//! others after the member's read position that are neither deleted nor hidden from them.
//! So it cannot drift from the messages it counts.

use crate::ids::{ConversationId, UserId};
use crate::pool::{Begin, on_pool, on_writer};
use crate::sql::unread_count_of;
use crate::{ReadState, SqlStore, StoreError};

const READ_STATE: &str = concat!(
    "SELECT cm.last_read_seq, ",
    unread_count_of!("cm"),
    " AS unread_count FROM conversation_members cm \
     WHERE cm.conversation_id = $1 AND cm.user_id = $2"
);
// Forward only, and never past the conversation's last message. Written with CASE because
// GREATEST/LEAST (PostgreSQL) and scalar MAX/MIN (SQLite) are not shared.
const ADVANCE: &str = "UPDATE conversation_members SET last_read_seq = CASE \
    WHEN $3 <= last_read_seq THEN last_read_seq \
    WHEN $3 > (SELECT c.last_seq FROM conversations c WHERE c.id = $1) \
        THEN (SELECT c.last_seq FROM conversations c WHERE c.id = $1) \
    ELSE $3 END \
    WHERE conversation_id = $1 AND user_id = $2";

#[derive(sqlx::FromRow)]
struct ReadRow {
    last_read_seq: i64,
    unread_count: i64,
}

impl From<ReadRow> for ReadState {
    fn from(row: ReadRow) -> Self {
        Self {
            last_read_seq: row.last_read_seq,
            unread_count: row.unread_count,
        }
    }
}

impl SqlStore {
    pub(crate) async fn read_state_of(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<ReadState, StoreError> {
        let row: Option<ReadRow> = on_pool!(&self.pool, p => {
            sqlx::query_as(READ_STATE).bind(conversation_id).bind(user).fetch_optional(p).await
        })?;
        row.map(ReadState::from).ok_or(StoreError::NotFound)
    }

    pub(crate) async fn advance_read(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        seq: i64,
    ) -> Result<ReadState, StoreError> {
        on_writer!(&self.pool, p => {
            let mut tx = p.begin_write().await?;
            let moved = sqlx::query(ADVANCE).bind(conversation_id).bind(user).bind(seq)
                .execute(&mut *tx).await?.rows_affected();
            if moved == 0 {
                return Err(StoreError::NotFound);
            }
            let row: ReadRow = sqlx::query_as(READ_STATE).bind(conversation_id).bind(user)
                .fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(row.into())
        })
    }
}
