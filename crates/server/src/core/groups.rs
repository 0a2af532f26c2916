//! Groups: creating them, their members and roles, renaming (the rules are the store's:
//! `missive_store::GroupStore`), and "someone is typing" in any conversation.

use missive_store::prelude::*;
use missive_store::{
    ConversationId, ConversationSummary, GroupOutcome, Idempotency, Member, Role, Ruled, Timestamp,
    UserId,
};
use sha2::{Digest, Sha256};

use super::domain::GroupTitle;
use super::input::FieldError;
use super::{Core, CoreError};
use crate::doorbell::Typing;

impl Core {
    /// Creates a group owned by `owner` with `members` (the owner among them or not,
    /// duplicates ignored): `NotFound` when one of them does not exist, `Invalid` when they
    /// are more than a group may have. With an idempotency key, at most once: a retry of the
    /// same request answers the group made then, with `true` for "replayed" (`NotFound` if
    /// the owner has left it since); the key with another request is `IdempotencyKeyReused`.
    pub async fn create_group(
        &self,
        owner: UserId,
        title: &GroupTitle,
        members: &[UserId],
        idempotency_key: Option<&str>,
    ) -> Result<(ConversationSummary, bool), CoreError> {
        let mut everyone: Vec<UserId> = members.iter().copied().chain([owner]).collect();
        everyone.sort_unstable();
        everyone.dedup();
        let max = self.0.policy.max_group_members;
        if everyone.len() > max {
            let words = format!("a group has at most {max} members, its owner included");
            return Err(CoreError::Invalid(
                FieldError::new("member_ids", words).into(),
            ));
        }
        let request_hash = idempotency_key
            .map(|_| group_fingerprint(title, &everyone))
            .unwrap_or_default();
        let idempotency = idempotency_key.map(|key| Idempotency {
            key,
            request_hash: &request_hash,
            expires_before: Timestamp::now().minus(self.0.policy.idempotency_ttl),
        });
        let written = self
            .store()
            .create_group_keyed(owner, title.as_str(), members, idempotency)
            .await;
        let (id, replayed) = match self.commit(written).await? {
            GroupOutcome::Created(group) => (group.id, false),
            GroupOutcome::Replayed(id) => (id, true),
            GroupOutcome::KeyReused => return Err(CoreError::IdempotencyKeyReused),
        };
        Ok((self.conversation(id, owner).await?, replayed))
    }

    /// `actor` adds `member` to a group; `true` when added now, `false` when they were in it.
    pub async fn add_member(
        &self,
        group: ConversationId,
        actor: UserId,
        member: UserId,
    ) -> Result<bool, CoreError> {
        let max = i64::try_from(self.0.policy.max_group_members).unwrap_or(i64::MAX);
        let written = self.store().add_member(group, actor, member, max).await;
        ruled(self.commit(written).await?)
    }

    /// `actor` removes `member` from a group, or leaves it when they are the same.
    pub async fn remove_member(
        &self,
        group: ConversationId,
        actor: UserId,
        member: UserId,
    ) -> Result<(), CoreError> {
        let written = self.store().remove_member(group, actor, member).await;
        ruled(self.commit(written).await?)
    }

    /// The owner gives a member a role (`Role::Owner` hands ownership over).
    pub async fn set_role(
        &self,
        group: ConversationId,
        actor: UserId,
        member: UserId,
        role: Role,
    ) -> Result<(), CoreError> {
        let written = self.store().set_role(group, actor, member, role).await;
        ruled(self.commit(written).await?)
    }

    /// Renames a group; answers it as the actor now sees it.
    pub async fn rename_group(
        &self,
        group: ConversationId,
        actor: UserId,
        title: &GroupTitle,
    ) -> Result<ConversationSummary, CoreError> {
        let written = self
            .store()
            .rename_group(group, actor, title.as_str())
            .await;
        ruled(self.commit(written).await?)?;
        self.conversation(group, actor).await
    }

    /// A page of a conversation's members in the order they joined (`NotFound` for a
    /// non-member).
    pub async fn members(
        &self,
        conversation: ConversationId,
        viewer: UserId,
        after: Option<(Timestamp, UserId)>,
        limit: i64,
    ) -> Result<Vec<Member>, CoreError> {
        let page = self
            .store()
            .members(conversation, viewer, after, limit)
            .await?;
        page.ok_or(CoreError::NotFound)
    }

    /// Tells the other members' open streams that `user` is typing in `conversation`
    /// (`NotFound` for a non-member). At most one notice per member and conversation goes
    /// out every few seconds; the rest are coalesced into it.
    pub async fn typing(
        &self,
        user: UserId,
        conversation: ConversationId,
    ) -> Result<(), CoreError> {
        let members = self.store().member_ids(conversation, user).await?;
        let mut others = members.ok_or(CoreError::NotFound)?;
        others.retain(|member| *member != user);
        let typing = Typing { conversation, user };
        if !others.is_empty() && self.0.doorbell.first_typing(typing).await {
            self.0.doorbell.typing(typing, &others).await;
        }
        Ok(())
    }
}

fn ruled<T>(outcome: Ruled<T>) -> Result<T, CoreError> {
    outcome.map_err(CoreError::Refused)
}

/// A group creation's fingerprint, for its idempotency key: its title and everyone in it
/// (sorted), so that a retry matches whatever order the members were listed in.
fn group_fingerprint(title: &GroupTitle, everyone: &[UserId]) -> String {
    let ids: Vec<String> = everyone.iter().map(|id| id.0.to_string()).collect();
    let digest = Sha256::digest(format!("group\n{}\n{}", title.as_str(), ids.join(",")));
    hex::encode(digest)
}
