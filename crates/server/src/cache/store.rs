//! [`CachedStore`]: the store with three reads cached and every write that could make one of
//! them stale followed by the version change that retires it (see `entries.rs`). Everything
//! else is passed through unchanged.

use std::sync::Arc;

use async_trait::async_trait;
use missive_store::{
    AccountChanges, Conversation, ConversationId, ConversationSummary, HistoryWindow, Idempotency,
    MemberConversation, Message, MessageId, MessageWindow, NewUser, Page, ReadState,
    RefreshOutcome, SendOutcome, Session, SessionId, SessionUser, Store, StoreError, Timestamp,
    User, UserId,
};

use super::Cache;
use super::dto::{PageDto, SessionUserDto, UserDto};
use super::entries::{EPOCH, after_write, history_versions, pair_version, read_through, user_gen};

pub struct CachedStore {
    pub(super) inner: Arc<dyn Store>,
    pub(super) cache: Arc<dyn Cache>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>, cache: Arc<dyn Cache>) -> Self {
        Self { inner, cache }
    }

    /// Where the cache lives, for the start-up log.
    pub fn location(&self) -> &'static str {
        self.cache.location()
    }
}

fn session_key(session_id: SessionId) -> String {
    format!("session:{session_id}")
}

fn pair_of(message: &Message) -> Vec<String> {
    vec![pair_version(message.sender_id, message.recipient_id)]
}

#[async_trait]
impl Store for CachedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.inner.create_user(user).await
    }
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let found = read_through(
            self.cache.as_ref(),
            format!("user:{id}"),
            vec![EPOCH.to_owned(), user_gen(id)],
            |user: &UserDto| user.id() == id,
            || async { Ok(self.inner.user_by_id(id).await?.map(UserDto::from)) },
        )
        .await?;
        Ok(found.map(User::from))
    }
    // Not cached: logins and password checks read users by name, and need the password hash
    // the cache never holds.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_email(email).await
    }
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.inner.user_by_username(username).await
    }
    async fn touch_user(&self, id: UserId) -> Result<Timestamp, StoreError> {
        let result = self.inner.touch_user(id).await;
        after_write(self.cache.as_ref(), result, |_| vec![user_gen(id)]).await
    }
    async fn delete_user(&self, id: UserId) -> Result<(), StoreError> {
        let result = self.inner.delete_user(id).await;
        after_write(self.cache.as_ref(), result, |()| vec![user_gen(id)]).await
    }
    async fn update_account(
        &self,
        id: UserId,
        changes: AccountChanges,
    ) -> Result<User, StoreError> {
        let result = self.inner.update_account(id, changes).await;
        after_write(self.cache.as_ref(), result, |_| vec![user_gen(id)]).await
    }
    async fn search_users(&self, prefix: &str, limit: i64) -> Result<Vec<User>, StoreError> {
        self.inner.search_users(prefix, limit).await
    }

    async fn create_session(
        &self,
        user_id: UserId,
        user_agent: Option<&str>,
        refresh_hash: Option<&str>,
        expires_at: Timestamp,
    ) -> Result<Session, StoreError> {
        self.inner
            .create_session(user_id, user_agent, refresh_hash, expires_at)
            .await
    }
    /// The token check, once cached, costs no database round trip. A cached entry's
    /// `session_last_used_at` may be up to `ENTRY_TTL` older than the database's: the extractor
    /// only uses it to decide whether to record a use (at most once a minute), so that costs at
    /// most an extra `touch_session`, which drops the entry anyway. Likewise a session that
    /// reaches its expiry time is still accepted for at most `ENTRY_TTL` (ending one, by
    /// logout or otherwise, takes effect at once).
    async fn session_user(
        &self,
        session_id: SessionId,
        user_id: UserId,
    ) -> Result<Option<SessionUser>, StoreError> {
        let found = read_through(
            self.cache.as_ref(),
            session_key(session_id),
            vec![EPOCH.to_owned(), user_gen(user_id)],
            |found: &SessionUserDto| found.user.id() == user_id,
            || async {
                let found = self.inner.session_user(session_id, user_id).await?;
                Ok(found.map(SessionUserDto::from))
            },
        )
        .await?;
        Ok(found.map(SessionUser::from))
    }
    async fn touch_session(&self, session_id: SessionId) -> Result<(), StoreError> {
        self.inner.touch_session(session_id).await?;
        // Only "last used" changed: dropping the entry lets the next check see the new time
        // (were it kept, every request would record a use until it expired). A reader racing
        // this may store the old time again; that costs one more touch, nothing else.
        self.cache.remove(&session_key(session_id)).await;
        Ok(())
    }
    async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        new_hash: &str,
        expires_at: Timestamp,
    ) -> Result<RefreshOutcome, StoreError> {
        let result = self
            .inner
            .rotate_refresh_token(presented_hash, new_hash, expires_at)
            .await;
        // `Reused` ended a session without saying whose: retire every cached token check.
        after_write(self.cache.as_ref(), result, |outcome| match outcome {
            RefreshOutcome::Reused => vec![EPOCH.to_owned()],
            RefreshOutcome::Rotated(_) | RefreshOutcome::Unknown => Vec::new(),
        })
        .await
    }
    /// Changes the user's generation rather than deleting the session's entry: a check that
    /// read the session as open just before this committed could otherwise store it again
    /// after the delete.
    async fn end_session(&self, session_id: SessionId, user_id: UserId) -> Result<(), StoreError> {
        let result = self.inner.end_session(session_id, user_id).await;
        after_write(self.cache.as_ref(), result, |()| vec![user_gen(user_id)]).await
    }
    async fn end_other_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> Result<u64, StoreError> {
        let result = self.inner.end_other_sessions(user_id, keep).await;
        after_write(self.cache.as_ref(), result, |_| vec![user_gen(user_id)]).await
    }
    async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        self.inner.list_sessions(user_id).await
    }
    async fn purge_sessions(&self, before: Timestamp) -> Result<u64, StoreError> {
        // Only sessions that had ended or expired already, which no check accepts anyway.
        self.inner.purge_sessions(before).await
    }

    async fn open_direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<(Conversation, bool), StoreError> {
        // A new conversation has no messages: every history page of the pair stays right.
        self.inner.open_direct_conversation(a, b).await
    }
    async fn direct_conversation(
        &self,
        a: UserId,
        b: UserId,
    ) -> Result<Option<Conversation>, StoreError> {
        self.inner.direct_conversation(a, b).await
    }
    async fn member_conversation(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<Option<MemberConversation>, StoreError> {
        self.inner.member_conversation(conversation_id, user).await
    }
    async fn conversation_summary(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        self.inner.conversation_summary(conversation_id, user).await
    }
    async fn list_conversations(
        &self,
        user: UserId,
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>, StoreError> {
        self.inner.list_conversations(user, after, limit).await
    }

    async fn send_direct_message(
        &self,
        sender: UserId,
        recipient: UserId,
        content: &str,
    ) -> Result<Message, StoreError> {
        let result = self
            .inner
            .send_direct_message(sender, recipient, content)
            .await;
        after_write(self.cache.as_ref(), result, pair_of).await
    }
    async fn send_message(
        &self,
        conversation_id: ConversationId,
        sender: UserId,
        content: &str,
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<SendOutcome, StoreError> {
        let result = self
            .inner
            .send_message(conversation_id, sender, content, idempotency)
            .await;
        after_write(self.cache.as_ref(), result, |outcome| match outcome {
            SendOutcome::Created(message) => pair_of(message),
            // A replay stored nothing new.
            SendOutcome::Replayed(_) | SendOutcome::KeyReused => Vec::new(),
        })
        .await
    }
    async fn purge_idempotency_keys(&self, before: Timestamp) -> Result<u64, StoreError> {
        self.inner.purge_idempotency_keys(before).await
    }
    async fn message_by_id(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        self.inner.message_by_id(id).await
    }
    async fn edit_message(
        &self,
        id: MessageId,
        editor: UserId,
        content: &str,
    ) -> Result<Message, StoreError> {
        let result = self.inner.edit_message(id, editor, content).await;
        after_write(self.cache.as_ref(), result, pair_of).await
    }
    async fn message_versions(
        &self,
        id: MessageId,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.inner.message_versions(id).await
    }
    async fn delete_message(&self, id: MessageId, sender: UserId) -> Result<Message, StoreError> {
        let result = self.inner.delete_message(id, sender).await;
        after_write(self.cache.as_ref(), result, pair_of).await
    }
    /// Hiding returns nothing, so the message's pair is looked up first (it never changes).
    async fn hide_message(&self, id: MessageId, user: UserId) -> Result<(), StoreError> {
        let message = self.inner.message_by_id(id).await?;
        let result = self.inner.hide_message(id, user).await;
        after_write(self.cache.as_ref(), result, |()| {
            message.iter().flat_map(pair_of).collect()
        })
        .await
    }
    async fn conversation_messages(
        &self,
        conversation_id: ConversationId,
        viewer: UserId,
        window: HistoryWindow,
        limit: i64,
    ) -> Result<MessageWindow, StoreError> {
        self.inner
            .conversation_messages(conversation_id, viewer, window, limit)
            .await
    }
    async fn read_state(
        &self,
        conversation_id: ConversationId,
        user: UserId,
    ) -> Result<ReadState, StoreError> {
        self.inner.read_state(conversation_id, user).await
    }
    async fn mark_read(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        seq: i64,
    ) -> Result<ReadState, StoreError> {
        // Read positions are not part of any cached entry.
        self.inner.mark_read(conversation_id, user, seq).await
    }
    async fn messages_of_user(
        &self,
        user: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Message>, StoreError> {
        self.inner.messages_of_user(user, limit, offset).await
    }
    /// Whole pages, per viewer (hidden messages differ), limit and offset, so a larger page is
    /// never cut from a smaller one and `total` is always the one read with the page.
    async fn direct_history(
        &self,
        user: UserId,
        peer: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Page<Message>, StoreError> {
        let (lo, hi) = (user.min(peer), user.max(peer));
        let page = read_through(
            self.cache.as_ref(),
            format!("history:{lo}:{hi}:{user}:{limit}:{offset}"),
            history_versions(user, peer),
            |_: &PageDto| true,
            || async {
                let page = self.inner.direct_history(user, peer, limit, offset).await?;
                Ok(Some(PageDto::from(page)))
            },
        )
        .await?;
        Ok(page.map(Page::from).unwrap_or(Page {
            items: Vec::new(),
            total: 0,
        }))
    }
}
