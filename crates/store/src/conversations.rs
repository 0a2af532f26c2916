//! Conversations and their members. Membership (`conversation_members`) is the truth about
//! who is in a conversation; a direct conversation also stores its pair ordered (`direct_low
//! <= direct_high`) for one reason only: the unique index that makes "one conversation per
//! unordered pair" hold even when both users open it at once, and finds it by pair.

use crate::ids::{ConversationId, MessageId, UserId};
use crate::pool::{Begin, on_pool, on_writer};
use crate::sql::Dialect;
use crate::sql::{change_in, conversation_columns, decode, not_hidden_from, unread_count_of};
use crate::{
    Changes, Conversation, ConversationChange, ConversationSummary, Message, Profile, ReadState,
    SqlStore, StoreError, Timestamp,
};

/// Conversations as their members see them.
#[allow(async_fn_in_trait)] // used through `SqlStore` itself, never as `dyn` or generically
pub trait ConversationStore {
    /// The direct conversation between two users, created if needed (`NotFound` when either
    /// user does not exist), and whether this call created it. The same conversation
    /// whichever of the two asks; of several racing calls, exactly one creates it.
    async fn open_direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<((Conversation, bool), Changes), StoreError>;
    /// The direct conversation between two users, if they have one.
    async fn direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<Option<Conversation>, StoreError>;
    /// One conversation as member `user` sees it; `None` for a non-member.
    async fn conversation_summary(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<Option<ConversationSummary>, StoreError>;
    /// The user's conversations, most recent activity first, after an `(activity_at, id)`
    /// cursor.
    async fn list_conversations(
        &self,
        user: UserId,
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>, StoreError>;
    /// Every conversation the user is in, oldest first (for reading them all: unlike
    /// activity order, this one does not change while it is read).
    async fn conversation_ids_of(&self, user: UserId) -> Result<Vec<ConversationId>, StoreError>;
}

const IDS_OF: &str =
    "SELECT conversation_id FROM conversation_members WHERE user_id = $1 ORDER BY conversation_id";

const INSERT_DIRECT: &str = concat!(
    "INSERT INTO conversations (kind, direct_low, direct_high, last_seq, created_at) \
     VALUES ('direct', $1, $2, 0, $3) \
     ON CONFLICT (direct_low, direct_high) DO NOTHING RETURNING ",
    conversation_columns!()
);
// A conversation with oneself has a single member: the second row is then a no-op.
// The pair's accounts that are not deleted; on PostgreSQL share-locked until commit, so a
// deletion waits for this conversation and then closes it.
const LIVE_USERS: &str = "SELECT id FROM users WHERE id IN ($1, $2) AND deleted_at IS NULL";
const LIVE_USERS_PG: &str =
    "SELECT id FROM users WHERE id IN ($1, $2) AND deleted_at IS NULL FOR SHARE";
const INSERT_MEMBERS: &str = "INSERT INTO conversation_members \
    (conversation_id, user_id, last_read_seq, joined_at) VALUES ($1, $2, 0, $4), ($1, $3, 0, $4) \
    ON CONFLICT DO NOTHING";
const FIND_DIRECT: &str = concat!(
    "SELECT ",
    conversation_columns!(),
    " FROM conversations WHERE kind = 'direct' AND direct_low = $1 AND direct_high = $2"
);

/// The pair in the order the `conversations_direct_pair` index stores it.
pub(crate) fn ordered(a: UserId, b: UserId) -> (UserId, UserId) {
    if a <= b { (a, b) } else { (b, a) }
}

pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

impl ConversationStore for SqlStore {
    async fn open_direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<((Conversation, bool), Changes), StoreError> {
        let (low, high) = ordered(a, b);
        let now = Timestamp::now();
        let result: Result<(Conversation, Changes), sqlx::Error> = on_writer!(self, p => async {
            let mut tx = p.begin_write().await?;
            let created: Option<Conversation> = sqlx::query_as(INSERT_DIRECT)
                .bind(low)
                .bind(high)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let opened = match created {
                Some(conversation) => {
                    // A deleted account's row stays (for what it sent), but nobody opens a
                    // conversation with it; undone with the transaction.
                    let live: Vec<UserId> = sqlx::query_scalar(p.pick(LIVE_USERS_PG, LIVE_USERS))
                        .bind(low)
                        .bind(high)
                        .fetch_all(&mut *tx)
                        .await?;
                    if live.len() != if low == high { 1 } else { 2 } {
                        return Err(sqlx::Error::RowNotFound);
                    }
                    sqlx::query(INSERT_MEMBERS)
                        .bind(conversation.id)
                        .bind(low)
                        .bind(high)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    let change = change_in!(p, tx, conversation.id, ConversationChange::Created);
                    (conversation, vec![change])
                }
                // Someone else created it first (possibly in a transaction we just waited on).
                None => {
                    let existing = sqlx::query_as(FIND_DIRECT)
                        .bind(low)
                        .bind(high)
                        .fetch_one(&mut *tx)
                        .await?;
                    (existing, Vec::new())
                }
            };
            tx.commit().await?;
            Ok(opened)
        }.await);
        let (conversation, changes) = result.map_err(|err| {
            if is_foreign_key_violation(&err) {
                StoreError::NotFound
            } else {
                StoreError::from(err)
            }
        })?;
        let created = !changes.is_empty();
        Ok(((conversation, created), changes))
    }

    async fn direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<Option<Conversation>, StoreError> {
        let (low, high) = ordered(a, b);
        Ok(on_pool!(self, p => {
            sqlx::query_as(FIND_DIRECT).bind(low).bind(high).fetch_optional(p).await
        })?)
    }

    async fn conversation_summary(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let row: Option<SummaryRow> = on_pool!(self, p => {
            sqlx::query_as(ONE_FOR_MEMBER).bind(user).bind(conversation_id).fetch_optional(p).await
        })?;
        Ok(row.map(SummaryRow::into_summary).transpose()?)
    }

    /// Up to `limit` of the user's conversations with activity before `after` (an
    /// `(activity_at, id)` cursor from the previous page), most recent first.
    async fn conversation_ids_of(&self, user: UserId) -> Result<Vec<ConversationId>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_scalar(IDS_OF).bind(user).fetch_all(p).await
        })?)
    }

    async fn list_conversations(
        &self,
        user: UserId,
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        let (activity, id) = after.unwrap_or((Timestamp(i64::MAX), ConversationId(i64::MAX)));
        let rows: Vec<SummaryRow> = on_pool!(self, p => {
            sqlx::query_as(LIST_FOR_MEMBER)
                .bind(user).bind(activity).bind(id).bind(limit)
                .fetch_all(p).await
        })?;
        let summaries = rows.into_iter().map(SummaryRow::into_summary);
        Ok(summaries.collect::<Result<_, _>>()?)
    }
}

// A conversation as member `$1` sees it: its kind, title, size and the member's role; for a
// direct one its peer (the other member; oneself in notes to self); the unread count and the
// newest message not hidden from them. Followed by a WHERE on `cm`/`c`.
macro_rules! summary_select {
    () => {
        concat!(
            "SELECT c.id, c.kind, c.title, c.created_at, c.last_seq, \
             c.closed_at IS NOT NULL AS closed, \
             COALESCE(c.last_message_at, c.created_at) AS activity_at, cm.last_read_seq, cm.role, ",
            unread_count_of!("cm"),
            " AS unread_count, \
             (SELECT COUNT(*) FROM conversation_members n WHERE n.conversation_id = c.id) \
                 AS member_count, \
             p.id AS peer_id, p.username AS peer_username, p.full_name AS peer_full_name, \
             lm.id AS lm_id, lm.seq AS lm_seq, lm.sender_id AS lm_sender_id, \
             lm.content AS lm_content, lm.created_at AS lm_created_at, \
             lm.edited_at AS lm_edited_at, lm.deleted_at AS lm_deleted_at, lm.kind AS lm_kind, \
             lm.subject_id AS lm_subject_id \
             FROM conversation_members cm \
             JOIN conversations c ON c.id = cm.conversation_id \
             LEFT JOIN users p ON c.kind = 'direct' AND p.id = COALESCE((SELECT pm.user_id \
                 FROM conversation_members pm WHERE pm.conversation_id = c.id \
                 AND pm.user_id <> cm.user_id LIMIT 1), cm.user_id) \
             LEFT JOIN messages lm ON lm.id = (SELECT m.id FROM messages m \
                 WHERE m.conversation_id = c.id AND ",
            not_hidden_from!("$1"),
            " ORDER BY m.seq DESC LIMIT 1) "
        )
    };
}

// The member's conversations after the (activity, id) cursor, most recent activity first.
const LIST_FOR_MEMBER: &str = concat!(
    summary_select!(),
    "WHERE cm.user_id = $1 AND (COALESCE(c.last_message_at, c.created_at) < $2 \
         OR (COALESCE(c.last_message_at, c.created_at) = $2 AND c.id < $3)) \
     ORDER BY activity_at DESC, c.id DESC LIMIT $4"
);
const ONE_FOR_MEMBER: &str = concat!(summary_select!(), "WHERE cm.user_id = $1 AND c.id = $2");

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: ConversationId,
    kind: String,
    title: Option<String>,
    created_at: Timestamp,
    last_seq: i64,
    closed: bool,
    activity_at: Timestamp,
    last_read_seq: i64,
    role: String,
    unread_count: i64,
    member_count: i64,
    peer_id: Option<UserId>,
    peer_username: Option<String>,
    peer_full_name: Option<String>,
    lm_id: Option<MessageId>,
    lm_seq: Option<i64>,
    lm_sender_id: Option<UserId>,
    lm_content: Option<String>,
    lm_created_at: Option<Timestamp>,
    lm_edited_at: Option<Timestamp>,
    lm_deleted_at: Option<Timestamp>,
    lm_kind: Option<String>,
    lm_subject_id: Option<UserId>,
}

impl SummaryRow {
    fn into_summary(self) -> Result<ConversationSummary, sqlx::Error> {
        let last_message = match (
            self.lm_id,
            self.lm_seq,
            self.lm_sender_id,
            self.lm_created_at,
            self.lm_kind,
        ) {
            (Some(id), Some(seq), Some(sender_id), Some(created_at), Some(kind)) => Some(Message {
                id,
                conversation_id: self.id,
                seq,
                sender_id,
                content: self.lm_content.unwrap_or_default(),
                created_at,
                edited_at: self.lm_edited_at,
                deleted_at: self.lm_deleted_at,
                kind: decode(kind)?,
                subject_id: self.lm_subject_id,
            }),
            _ => None,
        };
        let peer = match (self.peer_id, self.peer_username) {
            (Some(id), Some(username)) => Some(Profile {
                id,
                username,
                full_name: self.peer_full_name,
            }),
            _ => None,
        };
        Ok(ConversationSummary {
            id: self.id,
            kind: decode(self.kind)?,
            peer,
            title: self.title,
            member_count: self.member_count,
            role: decode(self.role)?,
            created_at: self.created_at,
            activity_at: self.activity_at,
            last_seq: self.last_seq,
            closed: self.closed,
            read: ReadState {
                last_read_seq: self.last_read_seq,
                unread_count: self.unread_count,
            },
            last_message,
        })
    }
}
