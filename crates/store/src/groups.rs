//! Groups: creating them, their members and roles, renaming. Each change is one transaction
//! that first locks the group's row, so the changes to one group and its sends happen one at
//! a time and each sees the members the one before left; then it checks the actor's role
//! (read after the lock), makes the change, writes a notice into the group's history at its
//! next `seq`, and appends the events. The rules:
//!
//! - Owners and admins add members and rename. Removing a member takes an owner or an admin;
//!   removing an admin takes the owner; nobody removes the owner.
//! - Only the owner changes roles. Making another member owner hands ownership over: the
//!   old owner becomes an admin. The owner cannot demote themselves any other way.
//! - Anyone may leave. An owner who leaves hands ownership to the longest-standing admin,
//!   else the longest-standing member. A group whose last member leaves is deleted, with its
//!   history: nobody could ever read it again.

use crate::conversations::is_foreign_key_violation;
use crate::idempotency::{Claim, RECORD_KEY_MESSAGE, claim_key};
use crate::ids::{ConversationId, MessageId, UserId};
use crate::pool::{Begin, on_pool, on_writer};
use crate::sql::{Dialect, caller_is_member, change_in, conversation_columns, next_seq};
use crate::{
    Changes, Conversation, ConversationChange, ConversationKind, Member, MessageKind, Role,
    SqlStore, StoreError, Timestamp,
};
use crate::{GroupOutcome, Idempotency};

/// Why a change to a group was refused (nothing changed). A caller who is not a member is
/// told `StoreError::NotFound` instead: they learn nothing of the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A direct conversation has no members to add or remove, roles or title.
    NotAGroup,
    /// The actor's role does not allow it.
    NotAllowed,
    /// No such user (adding).
    NoSuchUser,
    /// That user is not a member (removing, changing a role).
    NoSuchMember,
    /// The group has as many members as it may.
    Full,
}

/// What a group change did: done (with what it answers), or refused.
pub type Ruled<T> = Result<T, Refusal>;

/// Groups and their members.
#[allow(async_fn_in_trait)] // used through `SqlStore` itself, never as `dyn` or generically
pub trait GroupStore {
    /// Creates a group titled `title`, owned by `owner`, with `members` as members (the owner
    /// and duplicates among them are ignored); `NotFound` when one of them does not exist.
    /// Its history starts with a `group.created` notice.
    async fn create_group(
        &self,
        owner: UserId,
        title: &str,
        members: &[UserId],
    ) -> Result<(Conversation, Changes), StoreError>;
    /// As `create_group`, made at most once per idempotency key: a retry with the same key
    /// and request answers the group made the first time (whose first notice the key
    /// records), the same key with another request is refused, and nothing is written.
    async fn create_group_keyed(
        &self,
        owner: UserId,
        title: &str,
        members: &[UserId],
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<(GroupOutcome, Changes), StoreError>;
    /// `actor` adds `member`: `true` when added now, `false` when already a member. Refused
    /// when the group already has `max_members`.
    async fn add_member(
        &self,
        group: ConversationId,
        actor: UserId,
        member: UserId,
        max_members: i64,
    ) -> Result<(Ruled<bool>, Changes), StoreError>;
    /// `actor` removes `member`, or leaves when they are the same (see the module's rules).
    async fn remove_member(
        &self,
        group: ConversationId,
        actor: UserId,
        member: UserId,
    ) -> Result<(Ruled<()>, Changes), StoreError>;
    /// The owner gives `member` a role; `Role::Owner` hands ownership over.
    async fn set_role(
        &self,
        group: ConversationId,
        actor: UserId,
        member: UserId,
        role: Role,
    ) -> Result<(Ruled<()>, Changes), StoreError>;
    /// Renames the group.
    async fn rename_group(
        &self,
        group: ConversationId,
        actor: UserId,
        title: &str,
    ) -> Result<(Ruled<()>, Changes), StoreError>;
    /// Up to `limit` members of a conversation in the order they joined, after a
    /// `(joined_at, user)` cursor, as member `viewer` sees them; `None` for a non-member.
    async fn members(
        &self,
        conversation: ConversationId,
        viewer: UserId,
        after: Option<(Timestamp, UserId)>,
        limit: i64,
    ) -> Result<Option<Vec<Member>>, StoreError>;
    /// The groups `user` is a member of.
    async fn groups_of(&self, user: UserId) -> Result<Vec<ConversationId>, StoreError>;
    /// Whether `user` is a member of the conversation.
    async fn is_member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> Result<bool, StoreError>;
    /// Every member's id, if `viewer` is one of them.
    async fn member_ids(
        &self,
        conversation: ConversationId,
        viewer: UserId,
    ) -> Result<Option<Vec<UserId>>, StoreError>;
}

const INSERT_GROUP: &str = concat!(
    "INSERT INTO conversations (kind, title, last_seq, created_at) \
     VALUES ('group', $1, 0, $2) RETURNING ",
    conversation_columns!()
);
const INSERT_MEMBER: &str = "INSERT INTO conversation_members \
    (conversation_id, user_id, role, last_read_seq, joined_at) VALUES ($1, $2, $3, $4, $5)";
// The group's row, locked until the transaction ends (SQLite's one writer needs no lock).
const LOCK_PG: &str = "SELECT kind FROM conversations WHERE id = $1 FOR UPDATE";
const LOCK_SQLITE: &str = "SELECT kind FROM conversations WHERE id = $1";
// Row locks, on PostgreSQL, are always taken in this order: the group's row, then the member
// rows the change will write, then (in `change_in!`) the stream heads. Marking read takes a
// member row, then heads; were a change to update a member row after taking the heads, the
// two could wait on each other. So every member row a change writes is locked here, first.
const ROLE_OF: &str =
    "SELECT role FROM conversation_members WHERE conversation_id = $1 AND user_id = $2";
const ROLE_OF_PG: &str = "SELECT role FROM conversation_members \
    WHERE conversation_id = $1 AND user_id = $2 FOR UPDATE";
// A user who may join: not a deleted account. On PostgreSQL the row is share-locked until the
// transaction ends, so an account deletion (which updates it) waits for this one, and then
// finds the membership this one made.
const CONVERSATION_OF: &str = "SELECT conversation_id FROM messages WHERE id = $1";
const USER_EXISTS: &str = "SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL";
const USER_EXISTS_PG: &str = "SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL FOR SHARE";
const COUNT: &str = "SELECT COUNT(*) FROM conversation_members WHERE conversation_id = $1";
const NOTICE_SLOT: &str = next_seq!("id = $1", "$2");
const INSERT_NOTICE: &str = "INSERT INTO messages \
    (conversation_id, seq, sender_id, content, created_at, kind, subject_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
const SET_ROLE: &str =
    "UPDATE conversation_members SET role = $3 WHERE conversation_id = $1 AND user_id = $2";
const DELETE_MEMBER: &str =
    "DELETE FROM conversation_members WHERE conversation_id = $1 AND user_id = $2";
const DELETE_GROUP: &str = "DELETE FROM conversations WHERE id = $1";
// Who inherits the group of `$2`, its leaving owner: the longest-standing admin, else member.
const SUCCESSOR: &str = "SELECT user_id FROM conversation_members \
    WHERE conversation_id = $1 AND user_id <> $2 \
    ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END, joined_at, user_id LIMIT 1";
const TITLE: &str = "SELECT title FROM conversations WHERE id = $1";
const RENAME: &str = "UPDATE conversations SET title = $2 WHERE id = $1";
const IS_MEMBER: &str = concat!("SELECT ", caller_is_member!());
const MEMBERS_PAGE: &str = "SELECT u.id, u.username, u.full_name, cm.role, cm.joined_at, \
    cm.last_read_seq FROM conversation_members cm JOIN users u ON u.id = cm.user_id \
    WHERE cm.conversation_id = $1 AND (cm.joined_at > $2 OR (cm.joined_at = $2 AND cm.user_id > $3)) \
    ORDER BY cm.joined_at, cm.user_id LIMIT $4";
const GROUPS_OF: &str = "SELECT c.id FROM conversation_members cm \
    JOIN conversations c ON c.id = cm.conversation_id \
    WHERE cm.user_id = $1 AND c.kind = 'group' ORDER BY c.id";
const MEMBER_IDS: &str = concat!(
    "SELECT user_id FROM conversation_members WHERE conversation_id = $1 AND ",
    caller_is_member!(),
    " ORDER BY user_id"
);

/// In a group change's transaction `$tx` on pool `$p`: locks group `$group` and evaluates to
/// `$actor`'s role in it. Returns `NotFound` from the method when the conversation does not
/// exist or `$actor` is not in it, and refuses (changing nothing) when it is not a group.
macro_rules! standing {
    ($p:expr, $tx:expr, $group:expr, $actor:expr) => {{
        let kind: Option<String> = sqlx::query_scalar($p.pick(LOCK_PG, LOCK_SQLITE))
            .bind($group)
            .fetch_optional(&mut *$tx)
            .await?;
        let role = role_of!($p, $tx, $group, $actor).ok_or(StoreError::NotFound)?;
        if kind.as_deref() != Some(ConversationKind::Group.as_str()) {
            return Ok((Err(Refusal::NotAGroup), Vec::new()));
        }
        role
    }};
}

/// `$user`'s role in `$group`, if a member, read in `$tx` (on pool `$p`), their row locked.
macro_rules! role_of {
    ($p:expr, $tx:expr, $group:expr, $user:expr) => {{
        let role: Option<String> = sqlx::query_scalar($p.pick(ROLE_OF_PG, ROLE_OF))
            .bind($group)
            .bind($user)
            .fetch_optional(&mut *$tx)
            .await?;
        role.map(crate::sql::decode::<Role>).transpose()?
    }};
}

/// Writes a notice of kind `$kind` from `$sender` (about `$subject`, saying `$content`) at
/// group `$group`'s next `seq`, in `$tx`; evaluates to its id and `seq`.
macro_rules! notice {
    ($tx:expr, $group:expr, $sender:expr, $kind:expr, $subject:expr, $content:expr) => {{
        let (_, seq, _, at): (ConversationId, i64, String, Timestamp) = sqlx::query_as(NOTICE_SLOT)
            .bind($group)
            .bind(Timestamp::now())
            .fetch_one(&mut *$tx)
            .await?;
        let kind: MessageKind = $kind;
        let subject: Option<UserId> = $subject;
        let content: &str = $content;
        let id: MessageId = sqlx::query_scalar(INSERT_NOTICE)
            .bind($group)
            .bind(seq)
            .bind($sender)
            .bind(content)
            .bind(at)
            .bind(kind.as_str())
            .bind(subject)
            .fetch_one(&mut *$tx)
            .await?;
        (id, seq)
    }};
}

/// Gives `$member` role `$role` with a notice from `$actor`, and evaluates to the change.
macro_rules! give_role {
    ($p:expr, $tx:expr, $group:expr, $actor:expr, $member:expr, $role:expr) => {{
        let role: Role = $role;
        sqlx::query(SET_ROLE)
            .bind($group)
            .bind($member)
            .bind(role.as_str())
            .execute(&mut *$tx)
            .await?;
        let (message, seq) = notice!(
            $tx,
            $group,
            $actor,
            MessageKind::RoleChanged,
            Some($member),
            role.as_str()
        );
        let what = ConversationChange::RoleChanged {
            member: $member,
            message,
            seq,
        };
        change_in!($p, $tx, $group, what)
    }};
}

/// Members a new group's creation adds in one statement.
const ADD_AT_ONCE: usize = 500;

/// Adds the existing users among `count` ids bound from `$3` on to group `$1` as members
/// who joined at `$2`, in one statement (a statement per member would hold SQLite's one
/// writer a thousand round trips long); on PostgreSQL with their rows share-locked, as
/// `USER_EXISTS_PG` does.
fn add_existing(count: usize, postgres: bool) -> String {
    let marks: Vec<String> = (3..count + 3).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO conversation_members (conversation_id, user_id, role, last_read_seq, joined_at) \
         SELECT $1, u.id, 'member', 0, $2 FROM users u WHERE u.deleted_at IS NULL AND u.id IN ({}){}",
        marks.join(", "),
        if postgres { " FOR SHARE" } else { "" }
    )
}

/// The members a new group gets besides its owner: each once.
fn others(owner: UserId, members: &[UserId]) -> Vec<UserId> {
    let mut others: Vec<UserId> = members.iter().copied().filter(|m| *m != owner).collect();
    others.sort_unstable();
    others.dedup();
    others
}

/// Whether a member with role `actor` may remove one with role `target`.
fn may_remove(actor: Role, target: Role) -> bool {
    match (actor, target) {
        (_, Role::Owner) => false,
        (Role::Owner, _) | (Role::Admin, Role::Member) => true,
        _ => false,
    }
}

impl GroupStore for SqlStore {
    async fn create_group(
        &self,
        owner: UserId,
        title: &str,
        members: &[UserId],
    ) -> Result<(Conversation, Changes), StoreError> {
        match self.create_group_keyed(owner, title, members, None).await? {
            (GroupOutcome::Created(group), changes) => Ok((group, changes)),
            // Without a key there is no earlier request to answer from.
            (GroupOutcome::Replayed(_) | GroupOutcome::KeyReused, _) => Err(StoreError::NotFound),
        }
    }

    async fn create_group_keyed(
        &self,
        owner: UserId,
        title: &str,
        members: &[UserId],
        idempotency: Option<Idempotency<'_>>,
    ) -> Result<(GroupOutcome, Changes), StoreError> {
        let now = Timestamp::now();
        let others = others(owner, members);
        let created: Result<(GroupOutcome, Changes), sqlx::Error> = on_writer!(self, p => async {
            let mut tx = p.begin_write().await?;
            if let Some(key) = idempotency {
                match claim_key!(tx, owner, key, now) {
                    Claim::New => {}
                    Claim::Earlier { same_request: false, .. } => {
                        return Ok((GroupOutcome::KeyReused, Vec::new()));
                    }
                    // The key names the group's first notice; its conversation is the group.
                    Claim::Earlier { message, .. } => {
                        let group: Option<ConversationId> = match message {
                            Some(id) => sqlx::query_scalar(CONVERSATION_OF).bind(id)
                                .fetch_optional(&mut *tx).await?,
                            None => None,
                        };
                        let group = group.ok_or(sqlx::Error::RowNotFound)?;
                        return Ok((GroupOutcome::Replayed(group), Vec::new()));
                    }
                }
            }
            // An owner whose account is being deleted (a request authenticated just before)
            // founds nothing.
            let owner_exists: Option<i32> = sqlx::query_scalar(p.pick(USER_EXISTS_PG, USER_EXISTS))
                .bind(owner).fetch_optional(&mut *tx).await?;
            if owner_exists.is_none() {
                return Err(sqlx::Error::RowNotFound);
            }
            let mut group: Conversation = sqlx::query_as(INSERT_GROUP)
                .bind(title)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(INSERT_MEMBER).bind(group.id).bind(owner).bind(Role::Owner.as_str())
                .bind(0_i64).bind(now).execute(&mut *tx).await?;
            for chunk in others.chunks(ADD_AT_ONCE) {
                let added = sqlx::query(sqlx::AssertSqlSafe(add_existing(chunk.len(), p.is_postgres())))
                    .bind(group.id)
                    .bind(now);
                let added = chunk.iter().fold(added, |query, member| query.bind(*member));
                if added.execute(&mut *tx).await?.rows_affected() < chunk.len() as u64 {
                    // One of them is no such user: nothing is kept (the transaction is
                    // dropped, so rolled back).
                    return Err(sqlx::Error::RowNotFound);
                }
            }
            let (notice, seq) = notice!(tx, group.id, owner, MessageKind::GroupCreated, None, "");
            group.last_seq = seq;
            if let Some(key) = idempotency {
                sqlx::query(RECORD_KEY_MESSAGE).bind(owner).bind(key.key).bind(notice)
                    .execute(&mut *tx).await?;
            }
            let change = change_in!(p, tx, group.id, ConversationChange::Created);
            tx.commit().await?;
            Ok((GroupOutcome::Created(group), vec![change]))
        }.await);
        created.map_err(|err| {
            if is_foreign_key_violation(&err) || matches!(err, sqlx::Error::RowNotFound) {
                StoreError::NotFound
            } else {
                StoreError::from(err)
            }
        })
    }

    async fn add_member(
        &self,
        group: ConversationId,
        actor: UserId,
        member: UserId,
        max_members: i64,
    ) -> Result<(Ruled<bool>, Changes), StoreError> {
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            let role = standing!(p, tx, group, actor);
            if !role.manages() {
                return Ok((Err(Refusal::NotAllowed), Vec::new()));
            }
            let exists: Option<i32> = sqlx::query_scalar(p.pick(USER_EXISTS_PG, USER_EXISTS)).bind(member)
                .fetch_optional(&mut *tx).await?;
            if exists.is_none() {
                return Ok((Err(Refusal::NoSuchUser), Vec::new()));
            }
            if role_of!(p, tx, group, member).is_some() {
                return Ok((Ok(false), Vec::new()));
            }
            let count: i64 = sqlx::query_scalar(COUNT).bind(group).fetch_one(&mut *tx).await?;
            if count >= max_members {
                return Ok((Err(Refusal::Full), Vec::new()));
            }
            let (message, seq) =
                notice!(tx, group, actor, MessageKind::MemberAdded, Some(member), "");
            // The newcomer can read the whole history; what is unread starts after their
            // joining.
            sqlx::query(INSERT_MEMBER).bind(group).bind(member).bind(Role::Member.as_str())
                .bind(seq).bind(Timestamp::now()).execute(&mut *tx).await?;
            let what = ConversationChange::MemberAdded { member, message, seq };
            let change = change_in!(p, tx, group, what);
            tx.commit().await?;
            Ok((Ok(true), vec![change]))
        })
    }

    async fn remove_member(
        &self,
        group: ConversationId,
        actor: UserId,
        member: UserId,
    ) -> Result<(Ruled<()>, Changes), StoreError> {
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            let role = standing!(p, tx, group, actor);
            let leaving = actor == member;
            let kind = if leaving {
                MessageKind::MemberLeft
            } else {
                let Some(target) = role_of!(p, tx, group, member) else {
                    return Ok((Err(Refusal::NoSuchMember), Vec::new()));
                };
                if !may_remove(role, target) {
                    return Ok((Err(Refusal::NotAllowed), Vec::new()));
                }
                MessageKind::MemberRemoved
            };
            // A leaving owner's successor, their row locked before the heads are (see ROLE_OF).
            let successor: Option<UserId> = if leaving && role == Role::Owner {
                let successor = sqlx::query_scalar(SUCCESSOR).bind(group).bind(member)
                    .fetch_optional(&mut *tx).await?;
                if let Some(successor) = successor {
                    role_of!(p, tx, group, successor);
                }
                successor
            } else {
                None
            };
            let (message, seq) = notice!(tx, group, actor, kind, Some(member), "");
            // The events first, while the member is still one: their stream hears of it.
            let what = ConversationChange::MemberRemoved { member, message, seq };
            let mut changes = vec![change_in!(p, tx, group, what)];
            sqlx::query(DELETE_MEMBER).bind(group).bind(member).execute(&mut *tx).await?;
            if let Some(successor) = successor {
                changes.push(give_role!(p, tx, group, actor, successor, Role::Owner));
            }
            let count: i64 = sqlx::query_scalar(COUNT).bind(group).fetch_one(&mut *tx).await?;
            if count == 0 {
                sqlx::query(DELETE_GROUP).bind(group).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok((Ok(()), changes))
        })
    }

    async fn set_role(
        &self,
        group: ConversationId,
        actor: UserId,
        member: UserId,
        role: Role,
    ) -> Result<(Ruled<()>, Changes), StoreError> {
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            if standing!(p, tx, group, actor) != Role::Owner || member == actor {
                return Ok((Err(Refusal::NotAllowed), Vec::new()));
            }
            let Some(current) = role_of!(p, tx, group, member) else {
                return Ok((Err(Refusal::NoSuchMember), Vec::new()));
            };
            if current == role {
                return Ok((Ok(()), Vec::new()));
            }
            let mut changes = vec![give_role!(p, tx, group, actor, member, role)];
            if role == Role::Owner {
                changes.push(give_role!(p, tx, group, actor, actor, Role::Admin));
            }
            tx.commit().await?;
            Ok((Ok(()), changes))
        })
    }

    async fn rename_group(
        &self,
        group: ConversationId,
        actor: UserId,
        title: &str,
    ) -> Result<(Ruled<()>, Changes), StoreError> {
        on_writer!(self, p => {
            let mut tx = p.begin_write().await?;
            if !standing!(p, tx, group, actor).manages() {
                return Ok((Err(Refusal::NotAllowed), Vec::new()));
            }
            let current: Option<String> = sqlx::query_scalar(TITLE).bind(group)
                .fetch_one(&mut *tx).await?;
            if current.as_deref() == Some(title) {
                return Ok((Ok(()), Vec::new()));
            }
            sqlx::query(RENAME).bind(group).bind(title).execute(&mut *tx).await?;
            let (message, seq) = notice!(tx, group, actor, MessageKind::Renamed, None, title);
            let change = change_in!(p, tx, group, ConversationChange::Renamed { message, seq });
            tx.commit().await?;
            Ok((Ok(()), vec![change]))
        })
    }

    async fn members(
        &self,
        conversation: ConversationId,
        viewer: UserId,
        after: Option<(Timestamp, UserId)>,
        limit: i64,
    ) -> Result<Option<Vec<Member>>, StoreError> {
        let (joined, user) = after.unwrap_or((Timestamp(i64::MIN), UserId(i64::MIN)));
        Ok(on_pool!(self, p => {
            let mut tx = p.begin_snapshot().await?;
            let member: bool = sqlx::query_scalar(IS_MEMBER).bind(conversation).bind(viewer)
                .fetch_one(&mut *tx).await?;
            let page = if member {
                Some(sqlx::query_as(MEMBERS_PAGE).bind(conversation).bind(joined).bind(user)
                    .bind(limit).fetch_all(&mut *tx).await?)
            } else {
                None
            };
            tx.commit().await?;
            page
        }))
    }

    async fn groups_of(&self, user: UserId) -> Result<Vec<ConversationId>, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_scalar(GROUPS_OF).bind(user).fetch_all(p).await
        })?)
    }

    async fn is_member(
        &self,
        conversation: ConversationId,
        user: UserId,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, p => {
            sqlx::query_scalar(IS_MEMBER).bind(conversation).bind(user).fetch_one(p).await
        })?)
    }

    async fn member_ids(
        &self,
        conversation: ConversationId,
        viewer: UserId,
    ) -> Result<Option<Vec<UserId>>, StoreError> {
        let ids: Vec<UserId> = on_pool!(self, p => {
            sqlx::query_scalar(MEMBER_IDS).bind(conversation).bind(viewer).fetch_all(p).await
        })?;
        // A member is among the members: an empty list means the viewer is not.
        Ok((!ids.is_empty()).then_some(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_rules() {
        use Role::*;
        let allowed = [(Owner, Admin), (Owner, Member), (Admin, Member)];
        for actor in [Owner, Admin, Member] {
            for target in [Owner, Admin, Member] {
                let expected = allowed.contains(&(actor, target));
                assert_eq!(may_remove(actor, target), expected, "{actor:?} {target:?}");
            }
        }
    }

    #[test]
    fn a_new_group_lists_each_other_member_once() {
        let (a, b, c) = (UserId(1), UserId(2), UserId(3));
        assert_eq!(others(a, &[c, b, a, c, b]), vec![b, c]);
        assert!(others(a, &[a]).is_empty());
    }
}
