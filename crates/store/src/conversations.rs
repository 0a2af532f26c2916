//! Direct conversations: one per unordered pair of users.

use crate::pool::{BeginWrite, on_pool};
use crate::sql::conversation_columns;
use crate::{Conversation, SqlStore, StoreError, Timestamp};

const INSERT_DIRECT: &str = concat!(
    "INSERT INTO conversations (kind, direct_low, direct_high, last_seq, created_at) \
     VALUES ('direct', $1, $2, 0, $3) \
     ON CONFLICT (direct_low, direct_high) DO NOTHING RETURNING ",
    conversation_columns!()
);
// A conversation with oneself has a single member: the second row is then a no-op.
const INSERT_MEMBERS: &str = "INSERT INTO conversation_members \
    (conversation_id, user_id, last_read_seq, joined_at) VALUES ($1, $2, 0, $4), ($1, $3, 0, $4) \
    ON CONFLICT DO NOTHING";
const FIND_DIRECT: &str = concat!(
    "SELECT ",
    conversation_columns!(),
    " FROM conversations WHERE direct_low = $1 AND direct_high = $2"
);

/// The pair in the order the `conversations_direct_pair` index stores it.
pub(crate) fn ordered(a: i64, b: i64) -> (i64, i64) {
    if a <= b { (a, b) } else { (b, a) }
}

fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

impl SqlStore {
    pub(crate) async fn open_direct(&self, a: i64, b: i64) -> Result<Conversation, StoreError> {
        let (low, high) = ordered(a, b);
        let now = Timestamp::now();
        let result: Result<Conversation, sqlx::Error> = on_pool!(&self.pool, p => async {
            let mut tx = p.begin_write().await?;
            let created: Option<Conversation> = sqlx::query_as(INSERT_DIRECT)
                .bind(low)
                .bind(high)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let conversation = match created {
                Some(conversation) => {
                    sqlx::query(INSERT_MEMBERS)
                        .bind(conversation.id)
                        .bind(low)
                        .bind(high)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    conversation
                }
                // Someone else created it first (possibly in a transaction we just waited on).
                None => sqlx::query_as(FIND_DIRECT)
                    .bind(low)
                    .bind(high)
                    .fetch_one(&mut *tx)
                    .await?,
            };
            tx.commit().await?;
            Ok(conversation)
        }.await);
        result.map_err(|err| {
            if is_foreign_key_violation(&err) {
                StoreError::NotFound
            } else {
                err.into()
            }
        })
    }

    pub(crate) async fn find_direct(
        &self,
        a: i64,
        b: i64,
    ) -> Result<Option<Conversation>, StoreError> {
        let (low, high) = ordered(a, b);
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(FIND_DIRECT).bind(low).bind(high).fetch_optional(p).await
        })?)
    }
}
