//! Conversations as a member sees them, and read positions.

use missive_store::prelude::*;
use missive_store::{ConversationId, ConversationSummary, ReadState, Timestamp, UserId};

use super::{Core, CoreError};

impl Core {
    /// The direct conversation between `user` and `peer`, opened if there is none yet, and
    /// whether this call opened it. `NotFound` when the peer does not exist.
    pub async fn open_direct(
        &self,
        user: UserId,
        peer: UserId,
    ) -> Result<(ConversationSummary, bool), CoreError> {
        let written = self.store().open_direct_conversation(user, peer).await;
        let (conversation, created) = self.commit(written).await?;
        // Gone only if the peer's account was deleted in between, taking the conversation along.
        let summary = self
            .store()
            .conversation_summary(conversation.id, user)
            .await?
            .ok_or(CoreError::NotFound)?;
        Ok((summary, created))
    }

    /// One of the user's conversations (`NotFound` for a non-member).
    pub async fn conversation(
        &self,
        id: ConversationId,
        user: UserId,
    ) -> Result<ConversationSummary, CoreError> {
        let summary = self.store().conversation_summary(id, user).await?;
        summary.ok_or(CoreError::NotFound)
    }

    /// The user's conversations with activity before the `after` cursor, most recent first.
    pub async fn conversations(
        &self,
        user: UserId,
        after: Option<(Timestamp, ConversationId)>,
        limit: i64,
    ) -> Result<Vec<ConversationSummary>, CoreError> {
        Ok(self.store().list_conversations(user, after, limit).await?)
    }

    /// Every conversation the user is in, oldest first.
    pub async fn conversation_ids(&self, user: UserId) -> Result<Vec<ConversationId>, CoreError> {
        Ok(self.store().conversation_ids_of(user).await?)
    }

    /// Moves the member's read position forward to `seq` (never back, never past the newest
    /// message).
    pub async fn mark_read(
        &self,
        id: ConversationId,
        user: UserId,
        seq: i64,
    ) -> Result<ReadState, CoreError> {
        let written = self.store().mark_read(id, user, seq).await;
        self.commit(written).await
    }
}
