//! The [`Store`] trait every backend and decorator implements, and [`SqlStore`], the SQL
//! implementation shared by SQLite and PostgreSQL.

use async_trait::async_trait;

use crate::messages::Target;
use crate::pool::on_pool;
use crate::{
    AccountChanges, Backend, Conversation, ConversationId, ConversationSummary, DbPool,
    HistoryWindow, Idempotency, MemberConversation, Message, MessageId, MessageWindow, NewUser,
    ReadState, RefreshOutcome, SendOutcome, Session, SessionId, SessionUser, StoreError, Timestamp,
    User, UserId,
};

/// One page of a list, with the size of the whole list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// Everything missive persists. Implementations must be safe to share across tasks; every
/// method is one atomic operation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Creates a user; `Conflict(Username | Email)` when either is taken, ignoring case.
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Looks a user up by e-mail, ignoring case.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Looks a user up by username, ignoring case.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Records that the user was active now (on login); returns the time recorded.
    async fn touch_user(&self, id: UserId) -> Result<Timestamp, StoreError>;
    /// Deletes the user and, with them, their conversations and messages.
    async fn delete_user(&self, id: UserId) -> Result<(), StoreError>;
    /// Changes the display name and/or password (ending the other sessions) atomically.
    async fn update_account(&self, id: UserId, changes: AccountChanges)
    -> Result<User, StoreError>;
    /// Users whose username starts with `prefix`, ignoring case, in username order.
    async fn search_users(&self, prefix: &str, limit: i64) -> Result<Vec<User>, StoreError>;

    /// Opens a session until `expires_at`, with its first refresh token (a hash) if any.
    async fn create_session(
        &self,
        user_id: UserId,
        user_agent: Option<&str>,
        refresh_hash: Option<&str>,
        expires_at: Timestamp,
    ) -> Result<Session, StoreError>;
    /// The user of an open session (`None` once it has ended or the user is gone).
    async fn session_user(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<Option<SessionUser>, StoreError>;
    /// Records that the session was used now.
    async fn touch_session(&self, session_id: SessionId) -> Result<(), StoreError>;
    /// Spends a refresh token for a new one and keeps the session open until `expires_at`;
    /// a token spent before ends its session.
    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        expires_at: Timestamp,
    ) -> Result<RefreshOutcome, StoreError>;
    /// Ends one of the user's open sessions (`NotFound` if it is not theirs or not open).
    async fn end_session(&self, session_id: SessionId, user_id: UserId) -> Result<(), StoreError>;
    /// Ends all of the user's open sessions except `keep`; returns how many ended.
    async fn end_other_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> Result<u64, StoreError>;
    /// The user's open sessions, most recently used first.
    async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError>;
    /// Deletes sessions that expired or ended before `before`; returns how many.
    async fn purge_sessions(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// The direct conversation between two users, created if needed (`NotFound` when either
    /// user does not exist), and whether this call created it. The same conversation
    /// whichever of the two asks; of several racing calls, exactly one creates it.
    async fn open_direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<(Conversation, bool), StoreError>;
    async fn direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<Option<Conversation>, StoreError>;
    /// The conversation if `user` is a member of it; `None` otherwise (whether or not it
    /// exists).
    async fn member_conversation(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<Option<MemberConversation>, StoreError>;
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

    /// Sends a message from `sender` to `recipient`, opening their conversation if needed.
    /// The message gets the conversation's next `seq` in the same transaction, so sequence
    /// numbers are gapless and in commit order. `NotFound` when the recipient does not exist.
    async fn send_direct_message(
        &self,
        sender: UserId,
        recipient: UserId,
        content: &str,
    ) -> Result<Message, StoreError>;
    /// Sends into a conversation the sender is a member of (`NotFound` otherwise), at most
    /// once per idempotency key: see [`SendOutcome`].
    async fn send_message(
        &self,
        conversation_id: ConversationId,
        sender: UserId,
        content: &str,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<SendOutcome, StoreError>;
    /// Forgets idempotency keys first used before `before`; returns how many.
    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64, StoreError>;
    async fn message_by_id(&self, id: MessageId) -> Result<Option<Message>, StoreError>;
    /// Replaces a message's content, keeping the old version. Only the sender may edit, and
    /// only a message that is not deleted: otherwise `NotFound`, revealing nothing.
    async fn edit_message(
        &self,
        id: MessageId,
        editor: UserId,
        content: &str,
    ) -> Result<Message, StoreError>;
    /// Earlier contents of a message, oldest first, with the time each was replaced.
    async fn message_versions(
        &self,
        id: MessageId,
    ) -> Result<Vec<(String, crate::Timestamp)>, StoreError>;
    /// Deletes a message for everyone, leaving a tombstone at its seq. Sender only.
    async fn delete_message(&self, id: MessageId, sender: UserId) -> Result<Message, StoreError>;
    /// Hides a message from one member's views only.
    async fn hide_message(&self, id: MessageId, user: UserId) -> Result<(), StoreError>;
    /// A window of a conversation's history as `viewer` (a member) sees it.
    async fn conversation_messages(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        window: HistoryWindow,
        limit: i64,
    ) -> Result<MessageWindow, StoreError>;
    /// The member's read position and unread count (`NotFound` for a non-member).
    async fn read_state(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<ReadState, StoreError>;
    /// Moves the member's read position forward to `seq` (never back, never past the last
    /// message).
    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        seq: i64,
    ) -> Result<ReadState, StoreError>;
    /// The `limit` most recent messages the user sent or received, after skipping the
    /// `offset` most recent, listed oldest first.
    async fn messages_of_user(
        &self,
        user: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Message>, StoreError>;
    /// The conversation between `user` and `peer`, newest first, with its total size.
    async fn direct_history(
        &self,
        user: UserId,
        peer: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Page<Message>, StoreError>;
}

/// The SQL store: one implementation for both backends.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) pool: DbPool,
}

impl SqlStore {
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }

    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(&self.pool, p => sqlx::query("SELECT 1").execute(p).await.map(drop))?;
        Ok(())
    }

    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.insert_user(user).await
    }
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.find_user_by_id(id).await
    }
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.find_user_by_email(email).await
    }
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.find_user_by_username(username).await
    }
    async fn touch_user(&self, id: UserId) -> Result<Timestamp, StoreError> {
        self.mark_user_active(id).await
    }
    async fn delete_user(&self, id: UserId) -> Result<(), StoreError> {
        self.remove_user(id).await
    }
    async fn update_account(
        &self,
        id: UserId,
        changes: AccountChanges,
    ) -> Result<User, StoreError> {
        self.apply_account_changes(id, changes).await
    }
    async fn search_users(&self, prefix: &str, limit: i64) -> Result<Vec<User>, StoreError> {
        self.search_usernames(prefix, limit).await
    }

    async fn create_session(
        &self,
        user_id: UserId,
        user_agent: Option<&str>,
        refresh_hash: Option<&str>,
        expires_at: Timestamp,
    ) -> Result<Session, StoreError> {
        self.open_session(user_id, user_agent, refresh_hash, expires_at)
            .await
    }
    async fn session_user(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<Option<SessionUser>, StoreError> {
        SqlStore::session_user(self, session_id, user_id).await
    }
    async fn touch_session(&self, session_id: SessionId) -> Result<(), StoreError> {
        self.record_session_use(session_id).await
    }
    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        expires_at: Timestamp,
    ) -> Result<RefreshOutcome, StoreError> {
        self.rotate_refresh(presented_hash, new_hash, expires_at)
            .await
    }
    async fn end_session(&self, session_id: SessionId, user_id: UserId) -> Result<(), StoreError> {
        SqlStore::end_session(self, session_id, user_id).await
    }
    async fn end_other_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> Result<u64, StoreError> {
        SqlStore::end_other_sessions(self, user_id, keep).await
    }
    async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        self.open_sessions(user_id).await
    }
    async fn purge_sessions(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.purge_ended_sessions(before).await
    }

    async fn open_direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<(Conversation, bool), StoreError> {
        self.open_direct(a, b).await
    }
    async fn direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<Option<Conversation>, StoreError> {
        self.find_direct(a, b).await
    }
    async fn member_conversation(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<Option<MemberConversation>, StoreError> {
        SqlStore::member_conversation(self, conversation_id, user).await
    }
    async fn conversation_summary(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        self.summary_for_member(conversation_id, user).await
    }
    async fn list_conversations(
        &self,
        user: UserId,
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.list_for_member(user, after, limit).await
    }

    async fn send_direct_message(
        &self,
        sender: UserId,
        recipient: UserId,
        content: &str,
    ) -> Result<Message, StoreError> {
        self.send_direct(sender, recipient, content).await
    }
    async fn send_message(
        &self,
        conversation_id: ConversationId,
        sender: UserId,
        content: &str,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<SendOutcome, StoreError> {
        self.send_into(
            Target::Conversation(conversation_id),
            sender,
            content,
            idempotency,
        )
        .await
    }
    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.purge_keys(before).await
    }
    async fn message_by_id(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        self.find_message(id).await
    }
    async fn delete_message(&self, id: MessageId, sender: UserId) -> Result<Message, StoreError> {
        self.tombstone(id, sender).await
    }
    async fn hide_message(&self, id: MessageId, user: UserId) -> Result<(), StoreError> {
        self.hide(id, user).await
    }
    async fn conversation_messages(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        window: HistoryWindow,
        limit: i64,
    ) -> Result<MessageWindow, StoreError> {
        self.read_window(conversation_id, viewer, window, limit)
            .await
    }
    async fn read_state(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<ReadState, StoreError> {
        self.read_state_of(conversation_id, user).await
    }
    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        seq: i64,
    ) -> Result<ReadState, StoreError> {
        self.advance_read(conversation_id, user, seq).await
    }
    async fn edit_message(
        &self,
        id: MessageId,
        editor: UserId,
        content: &str,
    ) -> Result<Message, StoreError> {
        self.replace_content(id, editor, content).await
    }
    async fn message_versions(
        &self,
        id: MessageId,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.versions_of(id).await
    }
    async fn messages_of_user(
        &self,
        user: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Message>, StoreError> {
        self.list_user_messages(user, limit, offset).await
    }
    async fn direct_history(
        &self,
        user: UserId,
        peer: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Page<Message>, StoreError> {
        self.list_direct_history(user, peer, limit, offset).await
    }
}
