//! The [`Store`] trait every backend and decorator implements, and [`SqlStore`], the SQL
//! implementation shared by SQLite and PostgreSQL.

use async_trait::async_trait;

use crate::pool::on_pool;
use crate::{Backend, Conversation, DbPool, Message, NewUser, StoreError, User};

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
    async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError>;
    /// Looks a user up by e-mail, ignoring case.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Looks a user up by username, ignoring case.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Records that the user was active now (on login).
    async fn touch_user(&self, id: i64) -> Result<(), StoreError>;
    /// Deletes the user and, with them, their conversations and messages.
    async fn delete_user(&self, id: i64) -> Result<(), StoreError>;

    /// The direct conversation between two users, created if needed (`NotFound` when either
    /// user does not exist). The same conversation whichever of the two asks.
    async fn open_direct_conversation(&self, a: i64, b: i64) -> Result<Conversation, StoreError>;
    async fn direct_conversation(&self, a: i64, b: i64)
    -> Result<Option<Conversation>, StoreError>;

    /// Sends a message from `sender` to `recipient`, opening their conversation if needed.
    /// The message gets the conversation's next `seq` in the same transaction, so sequence
    /// numbers are gapless and in commit order. `NotFound` when the recipient does not exist.
    async fn send_direct_message(
        &self,
        sender: i64,
        recipient: i64,
        content: &str,
    ) -> Result<Message, StoreError>;
    async fn message_by_id(&self, id: i64) -> Result<Option<Message>, StoreError>;
    /// Replaces a message's content, keeping the old version. Only the sender may edit, and
    /// only a message that is not deleted: otherwise `NotFound`, revealing nothing.
    async fn edit_message(
        &self,
        id: i64,
        editor: i64,
        content: &str,
    ) -> Result<Message, StoreError>;
    /// Earlier contents of a message, oldest first, with the time each was replaced.
    async fn message_versions(
        &self,
        id: i64,
    ) -> Result<Vec<(String, crate::Timestamp)>, StoreError>;
    /// Every message the user sent or received, oldest first.
    async fn messages_of_user(
        &self,
        user: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Message>, StoreError>;
    /// The conversation between `user` and `peer`, newest first, with its total size.
    async fn direct_history(
        &self,
        user: i64,
        peer: i64,
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

    pub fn pool(&self) -> &DbPool {
        &self.pool
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
    async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        self.find_user_by_id(id).await
    }
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        self.find_user_by_email(email).await
    }
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.find_user_by_username(username).await
    }
    async fn touch_user(&self, id: i64) -> Result<(), StoreError> {
        self.mark_user_active(id).await
    }
    async fn delete_user(&self, id: i64) -> Result<(), StoreError> {
        self.remove_user(id).await
    }

    async fn open_direct_conversation(&self, a: i64, b: i64) -> Result<Conversation, StoreError> {
        self.open_direct(a, b).await
    }
    async fn direct_conversation(
        &self,
        a: i64,
        b: i64,
    ) -> Result<Option<Conversation>, StoreError> {
        self.find_direct(a, b).await
    }

    async fn send_direct_message(
        &self,
        sender: i64,
        recipient: i64,
        content: &str,
    ) -> Result<Message, StoreError> {
        self.send_direct(sender, recipient, content).await
    }
    async fn message_by_id(&self, id: i64) -> Result<Option<Message>, StoreError> {
        self.find_message(id).await
    }
    async fn edit_message(
        &self,
        id: i64,
        editor: i64,
        content: &str,
    ) -> Result<Message, StoreError> {
        self.replace_content(id, editor, content).await
    }
    async fn message_versions(
        &self,
        id: i64,
    ) -> Result<Vec<(String, crate::Timestamp)>, StoreError> {
        self.versions_of(id).await
    }
    async fn messages_of_user(
        &self,
        user: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Message>, StoreError> {
        self.list_user_messages(user, limit, offset).await
    }
    async fn direct_history(
        &self,
        user: i64,
        peer: i64,
        limit: i64,
        offset: i64,
    ) -> Result<Page<Message>, StoreError> {
        self.list_direct_history(user, peer, limit, offset).await
    }
}
