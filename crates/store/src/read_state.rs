//! Read positions and unread counts. An unread count is derived, never stored: messages from
//! others after the member's read position that are neither deleted nor hidden from them.
//! So it cannot drift from the messages it counts.

use crate::ids::{ConversationId, UserId};
use crate::pool::{Begin, on_pool, on_writer};
use crate::sql::{Dialect, change_in, hold_membership, unread_count_of};
use crate::{Changes, ConversationChange, ReadState, SqlStore, StoreError};

/// Members' read positions.
#[allow(async_fn_in_trait)] // used through `SqlStore` itself, never as `dyn` or generically
pub trait ReadStateStore {
    /// The member's read position and unread count (`NotFound` for a non-member).
    async fn read_state(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<ReadState, StoreError>;
    /// Moves the member's read position forward to `seq` (never back, never past the last
    /// message); `NotFound` for a non-member.
    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        seq: i64,
    ) -> Result<(ReadState, Changes), StoreError>;
}

const READ_STATE: &str = concat!(
    "SELECT cm.last_read_seq, ",
    unread_count_of!("cm"),
    " AS unread_count FROM conversation_members cm \
     WHERE cm.conversation_id = $1 AND cm.user_id = $2"
);
// The position before the move, locked (PostgreSQL) so that two concurrent moves do not both
// start from it and tell the same senders twice. A member row before the stream heads: the
// order every writer takes them in.
const POSITION: &str = "SELECT last_read_seq FROM conversation_members \
    WHERE conversation_id = $1 AND user_id = $2";
const POSITION_PG: &str = "SELECT last_read_seq FROM conversation_members \
    WHERE conversation_id = $1 AND user_id = $2 FOR UPDATE";
// Forward only, and never past the conversation's last message: no row changes when the
// position would not move. Written with CASE because GREATEST/LEAST (PostgreSQL) and scalar
// MAX/MIN (SQLite) are not shared.
const ADVANCE: &str = "UPDATE conversation_members SET last_read_seq = CASE \
    WHEN $3 > (SELECT c.last_seq FROM conversations c WHERE c.id = $1) \
        THEN (SELECT c.last_seq FROM conversations c WHERE c.id = $1) \
    ELSE $3 END \
    WHERE conversation_id = $1 AND user_id = $2 AND last_read_seq < $3 \
    AND last_read_seq < (SELECT c.last_seq FROM conversations c WHERE c.id = $1)";

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

impl ReadStateStore for SqlStore {
    async fn read_state(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<ReadState, StoreError> {
        let row: Option<ReadRow> = on_pool!(self, p => {
            sqlx::query_as(READ_STATE).bind(conversation_id).bind(user).fetch_optional(p).await
        })?;
        row.map(ReadState::from).ok_or(StoreError::NotFound)
    }

    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        seq: i64,
    ) -> Result<(ReadState, Changes), StoreError> {
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            // Before the member row: the order group changes lock in.
            hold_membership!(p, tx, conversation_id);
            let from: Option<i64> = sqlx::query_scalar(p.pick(POSITION_PG, POSITION)).bind(conversation_id).bind(user)
                .fetch_optional(&mut *tx).await?;
            let from = from.ok_or(StoreError::NotFound)?;
            let moved = sqlx::query(ADVANCE).bind(conversation_id).bind(user).bind(seq)
                .execute(&mut *tx).await?.rows_affected();
            let row: Option<ReadRow> = sqlx::query_as(READ_STATE).bind(conversation_id)
                .bind(user).fetch_optional(&mut *tx).await?;
            let state = ReadState::from(row.ok_or(StoreError::NotFound)?);
            let changes = if moved == 0 {
                Vec::new()
            } else {
                let what = ConversationChange::Read { user, from, seq: state.last_read_seq };
                vec![change_in!(p, tx, conversation_id, what)]
            };
            tx.commit().await?;
            Ok((state, changes))
        })
    }
}
