//! Messages: sending (at most once per idempotency key), reading, editing, deleting and
//! hiding. Membership and sender checks happen in the store, in the statement that acts.

use missive_store::prelude::*;
use missive_store::{
    Altered, Change, ConversationId, ConversationKind, DirectMessage, HistoryWindow, Idempotency,
    Message, MessageId, MessageWindow, Page, SendOutcome, Timestamp, UserId,
};
use sha2::{Digest, Sha256};

use super::domain::MessageContent;
use super::{Core, CoreError};
use crate::cache::{PageDto, history_key, history_versions};

/// A `/v1` send: into a conversation the sender is a member of, optionally made safe to
/// retry by an idempotency key.
pub struct SendRequest<'a> {
    pub conversation: ConversationId,
    pub sender: UserId,
    pub content: &'a MessageContent,
    pub idempotency_key: Option<&'a str>,
}

impl Core {
    /// Sends into a conversation. A retry with the same key and request answers the message
    /// stored the first time, with `true` for "replayed"; the same key with another request
    /// is `IdempotencyKeyReused`. Keys are remembered for the configured time.
    pub async fn send(&self, request: SendRequest<'_>) -> Result<(Message, bool), CoreError> {
        // Only a send with a key needs its fingerprint.
        let request_hash = request
            .idempotency_key
            .map(|_| fingerprint(request.conversation, request.content))
            .unwrap_or_default();
        let idempotency = request.idempotency_key.map(|key| Idempotency {
            key,
            request_hash: &request_hash,
            expires_before: Timestamp::now().minus(self.0.policy.idempotency_ttl),
        });
        let written = self
            .store()
            .send_message(
                request.conversation,
                request.sender,
                request.content.as_str(),
                idempotency,
            )
            .await;
        match self.commit(written).await? {
            SendOutcome::Created(message) => Ok((message, false)),
            SendOutcome::Replayed(message) => Ok((message, true)),
            SendOutcome::KeyReused => Err(CoreError::IdempotencyKeyReused),
        }
    }

    /// Sends to a user, opening the direct conversation with them on the first message
    /// (`NotFound` when there is no such user).
    pub async fn send_direct(
        &self,
        sender: UserId,
        recipient: UserId,
        content: &MessageContent,
    ) -> Result<DirectMessage, CoreError> {
        let written = self
            .store()
            .send_direct_message(sender, recipient, content.as_str())
            .await;
        self.commit(written).await
    }

    /// A window of a conversation's history (`NotFound` for a non-member).
    pub async fn history(
        &self,
        conversation: ConversationId,
        viewer: UserId,
        window: HistoryWindow,
        limit: i64,
    ) -> Result<MessageWindow, CoreError> {
        let read = self
            .store()
            .conversation_messages(conversation, viewer, window, limit)
            .await;
        Ok(read?)
    }

    /// A message and every earlier content it had (`NotFound` for a non-member).
    pub async fn message_versions(
        &self,
        id: MessageId,
        viewer: UserId,
    ) -> Result<(Message, Vec<(String, Timestamp)>), CoreError> {
        let found = self.store().message_versions(id, viewer).await?;
        found.ok_or(CoreError::NotFound)
    }

    /// Replaces the content of one of the editor's messages, keeping the old version. The
    /// new content is checked here: to a caller who cannot see the message, it is not found,
    /// whatever they send.
    pub async fn edit_message(
        &self,
        id: MessageId,
        editor: UserId,
        content: String,
    ) -> Result<Message, CoreError> {
        let content = match MessageContent::parse(content, self.0.policy.max_message_chars) {
            Ok(content) => content,
            Err(invalid) => {
                return match self.store().message_versions(id, editor).await? {
                    None => Err(CoreError::NotFound),
                    Some(_) => Err(CoreError::Invalid(invalid.into())),
                };
            }
        };
        let (message, _) = self.edit(id, editor, &content).await?;
        Ok(message)
    }

    /// As [`Self::edit_message`], for a face that shows a direct message with its recipient:
    /// a group's message is not one it can see (`NotFound`).
    pub async fn edit_direct_message(
        &self,
        id: MessageId,
        editor: UserId,
        content: &MessageContent,
    ) -> Result<DirectMessage, CoreError> {
        // A conversation's kind never changes, so this holds for the edit below too.
        let kind = self.store().message_conversation_kind(id, editor).await?;
        if kind != Some(ConversationKind::Direct) {
            return Err(CoreError::NotFound);
        }
        let (message, members) = self.edit(id, editor, content).await?;
        let recipient_id = members.into_iter().find(|member| *member != editor);
        Ok(DirectMessage {
            message,
            recipient_id: recipient_id.unwrap_or(editor),
        })
    }

    /// An edit, and the members of the message's conversation.
    async fn edit(
        &self,
        id: MessageId,
        editor: UserId,
        content: &MessageContent,
    ) -> Result<(Message, Vec<UserId>), CoreError> {
        let written = self
            .store()
            .edit_message(id, editor, content.as_str())
            .await;
        let members = match &written {
            Ok((_, changes)) => changes.iter().flat_map(Change::members).copied().collect(),
            Err(_) => Vec::new(),
        };
        let message = altered(self.commit(written).await?)?;
        Ok((message, members))
    }

    /// Deletes one of the user's messages for everyone, leaving a tombstone.
    pub async fn delete_message(&self, id: MessageId, user: UserId) -> Result<Message, CoreError> {
        let written = self.store().delete_message(id, user).await;
        altered(self.commit(written).await?)
    }

    /// Hides a message from the user's own views.
    pub async fn hide_message(&self, id: MessageId, user: UserId) -> Result<(), CoreError> {
        let written = self.store().hide_message(id, user).await;
        self.commit(written.map(|changes| ((), changes))).await
    }

    /// The most recent direct messages the user sent or received, oldest first.
    pub async fn direct_messages(
        &self,
        user: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DirectMessage>, CoreError> {
        Ok(self.store().messages_of_user(user, limit, offset).await?)
    }

    /// A page of the direct conversation between `user` and `peer`, newest first (cached:
    /// whole pages, per viewer since hidden messages differ, limit and offset, so a larger
    /// page is never cut from a smaller one and `total` is always the one read with it).
    pub async fn direct_history(
        &self,
        user: UserId,
        peer: UserId,
        limit: i64,
        offset: i64,
    ) -> Result<Page<DirectMessage>, CoreError> {
        let page = crate::cache::read_through(
            self.cache(),
            history_key(user, peer, limit, offset),
            history_versions(user, peer),
            |_: &PageDto| true,
            || async {
                let page = self
                    .store()
                    .direct_history(user, peer, limit, offset)
                    .await?;
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

fn altered(outcome: Altered) -> Result<Message, CoreError> {
    match outcome {
        Altered::Done(message) => Ok(message),
        Altered::NotSender => Err(CoreError::NotSender),
        Altered::Deleted => Err(CoreError::MessageDeleted),
        Altered::Notice => Err(CoreError::Notice),
    }
}

/// What makes two sends "the same request" for an idempotency key.
fn fingerprint(conversation: ConversationId, content: &MessageContent) -> String {
    let digest = Sha256::digest(format!("{conversation}\n{}", content.as_str()));
    hex::encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_conversation_and_content() {
        let hello = MessageContent::parse("hello".into(), 10).unwrap();
        let other = MessageContent::parse("hullo".into(), 10).unwrap();
        let (one, two) = (ConversationId(1), ConversationId(2));
        assert_eq!(fingerprint(one, &hello).len(), 64);
        assert_eq!(fingerprint(one, &hello), fingerprint(one, &hello));
        assert_ne!(fingerprint(one, &hello), fingerprint(two, &hello));
        assert_ne!(fingerprint(one, &hello), fingerprint(one, &other));
    }
}
