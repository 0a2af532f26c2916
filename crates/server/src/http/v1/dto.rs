//! The shapes `/v1` answers with. Never the store's rows: those can change without changing
//! the API.

use chrono::{DateTime, Utc};
use missive_store::{ConversationSummary, Message, ReadState, Session, SessionId, Timestamp, User};
use serde::Serialize;
use utoipa::ToSchema;

/// The signed-in user, as they see themselves.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub email: String,
    #[schema(required = true)]
    pub full_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_active_at: DateTime<Utc>,
}

impl From<User> for Me {
    fn from(user: User) -> Self {
        Self {
            id: user.id.get(),
            username: user.username,
            email: user.email,
            full_name: user.full_name,
            created_at: user.created_at.to_datetime(),
            last_active_at: user.last_active_at.to_datetime(),
        }
    }
}

/// Another user, as anyone may see them: never their e-mail address.
#[derive(Serialize, ToSchema)]
pub struct PublicUser {
    pub id: i64,
    pub username: String,
    #[schema(required = true)]
    pub full_name: Option<String>,
}

impl From<User> for PublicUser {
    fn from(user: User) -> Self {
        Self {
            id: user.id.get(),
            username: user.username,
            full_name: user.full_name,
        }
    }
}

/// What a login, registration or refresh hands out.
#[derive(Serialize, ToSchema)]
pub struct SessionTokens {
    pub user: Me,
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    #[schema(example = "bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Spend it at `POST /v1/auth/refresh` for new tokens; it works once.
    pub refresh_token: String,
}

/// One of the user's open sessions.
#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// The `User-Agent` the session was opened with.
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

impl SessionOut {
    pub fn new(session: Session, current_session: SessionId) -> Self {
        Self {
            id: session.id.get(),
            created_at: session.created_at.to_datetime(),
            last_used_at: session.last_used_at.to_datetime(),
            user_agent: session.user_agent,
            current: session.id == current_session,
        }
    }
}

/// A message. A deleted one keeps its `seq` with `deleted: true` and no content.
#[derive(Serialize, ToSchema)]
#[schema(as = V1Message)]
pub struct MessageOut {
    pub id: i64,
    pub conversation_id: i64,
    /// Position in the conversation: 1, 2, 3... with no gaps, in the order messages were stored.
    pub seq: i64,
    pub sender_id: i64,
    /// `null` when deleted.
    #[schema(required = true)]
    pub content: Option<String>,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

impl From<Message> for MessageOut {
    fn from(message: Message) -> Self {
        let deleted = message.deleted_at.is_some();
        Self {
            id: message.id.get(),
            conversation_id: message.conversation_id.get(),
            seq: message.seq,
            sender_id: message.sender_id.get(),
            content: (!deleted).then_some(message.content),
            created_at: message.created_at.to_datetime(),
            edited_at: message.edited_at.map(|at| at.to_datetime()),
            deleted,
        }
    }
}

/// A member's read position and what is unread after it.
#[derive(Serialize, ToSchema)]
pub struct ReadOut {
    /// 0 before anything was read.
    pub last_read_seq: i64,
    /// Messages from the other member after `last_read_seq`, not deleted or hidden.
    pub unread_count: i64,
}

impl From<ReadState> for ReadOut {
    fn from(read: ReadState) -> Self {
        Self {
            last_read_seq: read.last_read_seq,
            unread_count: read.unread_count,
        }
    }
}

/// A direct conversation as the caller sees it.
#[derive(Serialize, ToSchema)]
pub struct ConversationOut {
    pub id: i64,
    pub peer: PublicUser,
    pub created_at: DateTime<Utc>,
    /// The newest message's time, or `created_at` for an empty conversation.
    pub last_activity_at: DateTime<Utc>,
    /// The newest message the caller has not hidden.
    #[schema(required = true)]
    pub last_message: Option<MessageOut>,
    /// The `seq` of the conversation's newest message (0 when empty).
    pub last_seq: i64,
    pub last_read_seq: i64,
    pub unread_count: i64,
}

impl From<ConversationSummary> for ConversationOut {
    fn from(summary: ConversationSummary) -> Self {
        Self {
            id: summary.id.get(),
            peer: PublicUser {
                id: summary.peer_id.get(),
                username: summary.peer_username,
                full_name: summary.peer_full_name,
            },
            created_at: summary.created_at.to_datetime(),
            last_activity_at: summary.activity_at.to_datetime(),
            last_message: summary.last_message.map(MessageOut::from),
            last_seq: summary.last_seq,
            last_read_seq: summary.read.last_read_seq,
            unread_count: summary.read.unread_count,
        }
    }
}

/// One page of the caller's conversations.
#[derive(Serialize, ToSchema)]
pub struct ConversationPage {
    /// Most recent activity first.
    pub conversations: Vec<ConversationOut>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A window of a conversation's history.
#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    /// Ascending by `seq`, whichever direction was read.
    pub messages: Vec<MessageOut>,
    /// Whether more messages lie beyond this window, in the direction read, right now.
    pub has_more: bool,
    /// Where to continue: pass as `before` after a backward read, as `after` after a forward
    /// one. `null` only when nothing is left to continue from.
    #[schema(required = true)]
    pub next_cursor: Option<i64>,
}

/// What a message said over time.
#[derive(Serialize, ToSchema)]
pub struct MessageHistory {
    pub message_id: i64,
    /// A deleted message keeps no versions.
    pub deleted: bool,
    /// Oldest first; the last is the current content.
    pub versions: Vec<MessageVersion>,
}

/// One content a message had, and when it had it.
#[derive(Serialize, ToSchema)]
pub struct MessageVersion {
    pub content: String,
    pub from: DateTime<Utc>,
    /// When it was replaced; `null` for the current version.
    #[schema(required = true)]
    pub until: Option<DateTime<Utc>>,
}

impl MessageHistory {
    /// `earlier` is each replaced content with the time it was replaced, oldest first; each
    /// version lasted from the previous replacement (or the message's creation) to its own.
    pub fn new(message: Message, earlier: Vec<(String, Timestamp)>) -> Self {
        let deleted = message.deleted_at.is_some();
        let mut from = message.created_at;
        let mut versions = Vec::with_capacity(earlier.len() + 1);
        for (content, replaced_at) in earlier {
            versions.push(MessageVersion {
                content,
                from: from.to_datetime(),
                until: Some(replaced_at.to_datetime()),
            });
            from = replaced_at;
        }
        if deleted {
            versions.clear();
        } else {
            versions.push(MessageVersion {
                content: message.content,
                from: from.to_datetime(),
                until: None,
            });
        }
        Self {
            message_id: message.id.get(),
            deleted,
            versions,
        }
    }
}
