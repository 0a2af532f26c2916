//! The rows the store hands out. Handlers map these to their own response types.

use chrono::{DateTime, Utc};

use crate::{ConversationId, ConversationKind, MessageId, SessionId, UserId};

/// A stored name that this version does not know (written by a newer one).
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownName {
    pub(crate) what: &'static str,
    pub(crate) value: String,
}

/// Closed sets of names stored as text: each value's name, and back.
macro_rules! stored_names {
    ($(#[$meta:meta])* $vis:vis enum $name:ident as $what:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            /// The name as stored, and as clients see it.
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)* }
            }

            /// The value a name stands for, if any.
            pub fn parse(value: &str) -> Option<Self> {
                match value { $($text => Some(Self::$variant),)* _ => None }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::models::UnknownName;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value).ok_or($crate::models::UnknownName { what: $what, value })
            }
        }
    };
}
pub(crate) use stored_names;

stored_names! {
    /// What a message is: what a member wrote, or a notice the service wrote about a change
    /// to a group, in the conversation's `seq` order.
    pub enum MessageKind as "message kind" {
        Text = "text",
        /// The group was created (its sender is the owner).
        GroupCreated = "group.created",
        /// Its sender added its subject.
        MemberAdded = "member.added",
        /// Its sender removed its subject.
        MemberRemoved = "member.removed",
        /// Its sender left.
        MemberLeft = "member.left",
        /// Its subject's role became the notice's content (made so by its sender, or on the
        /// last owner leaving).
        RoleChanged = "member.role_changed",
        /// Its sender renamed the group to the notice's content.
        Renamed = "conversation.renamed",
    }
}

stored_names! {
    /// A member's standing in a group. Owners and admins add and remove members and rename;
    /// only an owner changes roles. Direct conversations' members are all `Member`.
    pub enum Role as "role" {
        Owner = "owner",
        Admin = "admin",
        Member = "member",
    }
}

impl Role {
    /// Adds and removes members, renames the group.
    pub fn manages(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// A point in time as unix microseconds: stored as a 64-bit integer so that both backends
/// compare and order it the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// This time moved `span` later.
    pub fn plus(self, span: std::time::Duration) -> Self {
        Self(self.0.saturating_add(micros(span)))
    }

    /// This time moved `span` earlier.
    pub fn minus(self, span: std::time::Duration) -> Self {
        Self(self.0.saturating_sub(micros(span)))
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or(DateTime::UNIX_EPOCH)
    }
}

fn micros(span: std::time::Duration) -> i64 {
    i64::try_from(span.as_micros()).unwrap_or(i64::MAX)
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at.timestamp_micros())
    }
}

#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub password_hash: String,
    pub created_at: Timestamp,
    pub last_active_at: Timestamp,
}

/// A user with their standing, for administrators.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Account {
    #[sqlx(flatten)]
    pub user: User,
    /// When an administrator disabled the account (`None`: it may log in).
    pub disabled_at: Option<Timestamp>,
}

// Hand-written so a logged user never prints its password hash.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// What it takes to create a user. The password is already hashed by the caller.
#[derive(Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub password_hash: String,
}

/// A conversation: direct (a pair) or a group.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Conversation {
    pub id: ConversationId,
    #[sqlx(try_from = "String")]
    pub kind: ConversationKind,
    pub last_seq: i64,
    pub created_at: Timestamp,
}

/// What anyone may see of a user.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Profile {
    pub id: UserId,
    pub username: String,
    pub full_name: Option<String>,
}

/// A member of a conversation, as the other members see them.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Member {
    #[sqlx(flatten)]
    pub user: Profile,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub joined_at: Timestamp,
    pub last_read_seq: i64,
}

/// A message as its readers see it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    /// The member who wrote it, or who made the change a notice is about.
    pub sender_id: UserId,
    /// A notice's content: the new title or role it announces, else empty.
    pub content: String,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    #[sqlx(try_from = "String")]
    pub kind: MessageKind,
    /// The member a notice is about (`None` for text, and once their account is gone).
    pub subject_id: Option<UserId>,
}

/// A message of a direct conversation with its recipient: the other member (the sender
/// itself in a conversation with oneself). What the compatibility faces show.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DirectMessage {
    #[sqlx(flatten)]
    pub message: Message,
    pub recipient_id: UserId,
}

/// What an edit or a delete for everyone did. Not being a member is `NotFound` instead:
/// a non-member learns nothing of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Altered {
    /// Done; the message as it is now. Deleting a deleted message again answers its
    /// tombstone and changes nothing.
    Done(Message),
    /// Only the sender may change a message for everyone.
    NotSender,
    /// A notice about a change to a group: nobody edits or deletes those.
    Notice,
    /// The message was deleted: it cannot be edited any more.
    Deleted,
}

/// A login session. Access tokens carry its id; ending it ends them.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Changes to an account, made together or not at all.
#[derive(Clone, Debug, Default)]
pub struct AccountChanges {
    /// `Some(None)` clears the display name; `None` leaves it.
    pub full_name: Option<Option<String>>,
    /// A new password hash, and the one session to keep (`None`: none): every other
    /// session ends.
    pub password: Option<(String, Option<SessionId>)>,
}

/// The user behind an open session, and when the session was last used.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SessionUser {
    #[sqlx(flatten)]
    pub user: User,
    pub session_last_used_at: Timestamp,
}

/// What presenting a refresh token did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was spent and the new one stored; the session is still open.
    Rotated(Session),
    /// The token had been spent before: a copy is in someone else's hands, so its session
    /// has now been ended.
    Reused,
    /// No such token, or its session had ended.
    Unknown,
}

/// A send's idempotency key and the fingerprint of the request it came with.
#[derive(Clone, Copy, Debug)]
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
    /// Keys first used before this are forgotten: the key may start afresh.
    pub expires_before: Timestamp,
}

/// What a send did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    Created(Message),
    /// The key was used before with the same request: the message stored then.
    Replayed(Message),
    /// The key was used before with a different request; nothing was stored.
    KeyReused,
}

/// What a group's creation with an idempotency key did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupOutcome {
    Created(Conversation),
    /// The key was used before with the same request: the group made then.
    Replayed(ConversationId),
    /// The key was used before with a different request; nothing was made.
    KeyReused,
}

/// Which slice of a conversation's history to read, by `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryWindow {
    /// The newest messages.
    Latest,
    /// The newest messages with `seq` below this.
    Before(i64),
    /// The oldest messages with `seq` above this.
    After(i64),
}

/// Messages in ascending `seq`, and whether more lie beyond them in the direction read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageWindow {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// A member's read position and what is unread after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub last_read_seq: i64,
    /// Messages from others after the read position, neither deleted nor hidden.
    pub unread_count: i64,
}

/// One line of a user's conversation list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationSummary {
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// Direct: the other member (oneself in notes to self). `None` for a group.
    pub peer: Option<Profile>,
    /// A group's name (`None` for a direct conversation).
    pub title: Option<String>,
    pub member_count: i64,
    /// The reader's role.
    pub role: Role,
    pub created_at: Timestamp,
    /// The last message's time, or the creation time for an empty conversation.
    pub activity_at: Timestamp,
    pub last_seq: i64,
    /// Takes no new messages: the other member of this direct conversation deleted their
    /// account.
    pub closed: bool,
    pub read: ReadState,
    /// The newest message the user has not hidden (a tombstone if it was deleted).
    pub last_message: Option<Message>,
}
