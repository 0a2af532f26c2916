//! The shapes `/v1` answers with. Never the store's rows: those can change without changing
//! the API.

use chrono::{DateTime, Utc};
use missive_store::{
    ConversationKind, ConversationSummary, Member, Message, MessageKind, Profile, ReadState,
    Session, SessionId, Timestamp, User, UserId,
};
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

impl From<Profile> for PublicUser {
    fn from(user: Profile) -> Self {
        Self {
            id: user.id.get(),
            username: user.username,
            full_name: user.full_name,
        }
    }
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

/// A message. A deleted one keeps its `seq` with `deleted: true` and no content. In a group,
/// changes to it are messages too (`kind` other than `text`, with a `notice`), so its history
/// shows who joined, left, was removed or made admin, and renames, each at its place.
#[derive(Serialize, ToSchema)]
#[schema(as = V1Message)]
pub struct MessageOut {
    pub id: i64,
    pub conversation_id: i64,
    /// Position in the conversation: 1, 2, 3... with no gaps, in the order messages were stored.
    pub seq: i64,
    /// Who wrote it; for a notice, who made the change.
    pub sender_id: i64,
    /// `text`, or a group's notice: `group.created`, `member.added`, `member.removed`,
    /// `member.left`, `member.role_changed`, `conversation.renamed`.
    #[schema(example = "text")]
    pub kind: &'static str,
    /// `null` when deleted, and for notices.
    #[schema(required = true)]
    pub content: Option<String>,
    /// Notices only: what changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<NoticeOut>,
    pub created_at: DateTime<Utc>,
    #[schema(required = true)]
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
}

/// What a notice says changed.
#[derive(Serialize, ToSchema)]
pub struct NoticeOut {
    /// The member it is about (added, removed, who left, whose role changed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// `member.role_changed`: the new role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `conversation.renamed`: the new title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl From<Message> for MessageOut {
    fn from(message: Message) -> Self {
        let deleted = message.deleted_at.is_some();
        let (content, notice) = match message.kind {
            MessageKind::Text => ((!deleted).then_some(message.content), None),
            kind => {
                let said = Some(message.content);
                let notice = NoticeOut {
                    user_id: message.subject_id.map(UserId::get),
                    role: said.clone().filter(|_| kind == MessageKind::RoleChanged),
                    title: said.filter(|_| kind == MessageKind::Renamed),
                };
                (None, Some(notice))
            }
        };
        Self {
            id: message.id.get(),
            conversation_id: message.conversation_id.get(),
            seq: message.seq,
            sender_id: message.sender_id.get(),
            kind: message.kind.as_str(),
            content,
            notice,
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
    /// Messages from the other members after `last_read_seq`, not deleted or hidden (a
    /// group's notices are not counted).
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

/// A conversation as the caller sees it: direct (with its `peer`) or a group (with its
/// `title`, `member_count` and the caller's `role`).
#[derive(Serialize, ToSchema)]
pub struct ConversationOut {
    pub id: i64,
    /// `direct` or `group`.
    #[schema(example = "direct")]
    pub kind: &'static str,
    /// Direct conversations: the other member (the caller, in notes to self).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<PublicUser>,
    /// Groups: its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Groups: how many members it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<i64>,
    /// Groups: the caller's role, `owner`, `admin` or `member`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "member")]
    pub role: Option<&'static str>,
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
    /// Present (`true`) once the conversation takes no new messages: the other member of a
    /// direct conversation deleted their account (sending answers 409 `conversation_closed`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
}

impl From<ConversationSummary> for ConversationOut {
    fn from(summary: ConversationSummary) -> Self {
        let group = summary.kind == ConversationKind::Group;
        Self {
            id: summary.id.get(),
            kind: summary.kind.as_str(),
            peer: summary.peer.map(PublicUser::from),
            title: summary.title,
            member_count: group.then_some(summary.member_count),
            role: group.then_some(summary.role.as_str()),
            created_at: summary.created_at.to_datetime(),
            last_activity_at: summary.activity_at.to_datetime(),
            last_message: summary.last_message.map(MessageOut::from),
            last_seq: summary.last_seq,
            last_read_seq: summary.read.last_read_seq,
            unread_count: summary.read.unread_count,
            closed: summary.closed,
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

/// A member of a conversation, as the other members see them.
#[derive(Serialize, ToSchema)]
pub struct MemberOut {
    pub user: PublicUser,
    /// `owner`, `admin` or `member`.
    #[schema(example = "member")]
    pub role: &'static str,
    pub joined_at: DateTime<Utc>,
    /// Their read position: the `seq` of the newest message they have read (a read receipt).
    pub last_read_seq: i64,
}

impl From<Member> for MemberOut {
    fn from(member: Member) -> Self {
        Self {
            user: member.user.into(),
            role: member.role.as_str(),
            joined_at: member.joined_at.to_datetime(),
            last_read_seq: member.last_read_seq,
        }
    }
}

/// One page of a conversation's members, in the order they joined.
#[derive(Serialize, ToSchema)]
pub struct MemberPage {
    pub members: Vec<MemberOut>,
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
