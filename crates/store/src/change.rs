//! What a committed write changed, and for whom. Every store write returns its [`Changes`],
//! so that one function after commit (the server's use-case layer) can retire cache entries,
//! ring the live-delivery doorbell and count metrics without re-deriving who is affected.

use crate::ids::{ConversationId, MessageId, SessionId, UserId};

/// The changes one write made, in the order they happened. Empty when nothing another reader
/// could observe changed (a replayed send, opening a conversation that existed).
pub type Changes = Vec<Change>;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Something about one user's account or sessions.
    Account { user: UserId, what: AccountChange },
    /// Something in a conversation. `members` are all of its members when it committed (for a
    /// message hidden by one of them, the others still see it: see [`ConversationChange`]).
    Conversation {
        conversation: ConversationId,
        kind: ConversationKind,
        members: Vec<UserId>,
        what: ConversationChange,
        /// The event each concerned user's stream got, as `(user, position)`: every member,
        /// or only the one who hid a message.
        events: Vec<(UserId, i64)>,
    },
}

impl Change {
    /// The one change of a write to `user`'s account or sessions.
    pub(crate) fn to_account(user: UserId, what: AccountChange) -> Changes {
        vec![Self::Account { user, what }]
    }

    /// The members of the conversation a change is in (none for an account change).
    pub fn members(&self) -> &[UserId] {
        match self {
            Self::Account { .. } => &[],
            Self::Conversation { members, .. } => members,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountChange {
    Created,
    /// Logged in: `last_active_at` moved.
    Active,
    /// Display name or password changed (a password change also ends the other sessions).
    Updated,
    /// The user is gone, and with them their sessions and direct conversations.
    Deleted,
    SessionOpened(SessionId),
    /// Only the session's "last used" time moved.
    SessionUsed(SessionId),
    /// One or more of the user's sessions ended.
    SessionsEnded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversationChange {
    Created,
    MessageCreated {
        message: MessageId,
        seq: i64,
    },
    MessageEdited {
        message: MessageId,
        seq: i64,
    },
    MessageDeleted {
        message: MessageId,
        seq: i64,
    },
    /// Hidden from `by` only: the other members' views are unchanged.
    MessageHidden {
        message: MessageId,
        seq: i64,
        by: UserId,
    },
    /// `user`'s read position moved from `from` to `seq`.
    Read {
        user: UserId,
        from: i64,
        seq: i64,
    },
    /// `member` joined a group; `message` is the notice at `seq`.
    MemberAdded {
        member: UserId,
        message: MessageId,
        seq: i64,
    },
    /// `member` left or was removed (the notice's kind says which). Its `members` still
    /// include them: their stream hears of it, and nothing after.
    MemberRemoved {
        member: UserId,
        message: MessageId,
        seq: i64,
    },
    /// `member`'s role changed.
    RoleChanged {
        member: UserId,
        message: MessageId,
        seq: i64,
    },
    /// The group was renamed.
    Renamed {
        message: MessageId,
        seq: i64,
    },
}

crate::models::stored_names! {
    /// What kind of conversation it is.
    pub enum ConversationKind as "conversation kind" {
        /// Between two users (or one user and themselves), one per pair.
        Direct = "direct",
        /// Any number of members with roles, a title, and notices of its changes.
        Group = "group",
    }
}
