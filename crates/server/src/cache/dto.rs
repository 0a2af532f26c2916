//! What cached entries hold: private copies of the store's rows with one-letter field names
//! (compact JSON), so the store crate needs no serialization of its own.

use missive_store::{
    ConversationId, DirectMessage, Message, MessageId, MessageKind, Page, SessionUser, Timestamp,
    User, UserId,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct UserDto {
    #[serde(rename = "i")]
    id: UserId,
    #[serde(rename = "u")]
    username: String,
    #[serde(rename = "e")]
    email: String,
    #[serde(rename = "f")]
    full_name: Option<String>,
    #[serde(rename = "c")]
    created_at: i64,
    #[serde(rename = "a")]
    last_active_at: i64,
}

impl UserDto {
    pub fn id(&self) -> UserId {
        self.id
    }
}

impl From<User> for UserDto {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            full_name: user.full_name,
            created_at: user.created_at.0,
            last_active_at: user.last_active_at.0,
        }
    }
}

/// Password hashes never leave the database: a cached user comes back without one (an empty
/// hash, which verifies no password). Code that checks a password reads the user afresh
/// (`Core::check_password`).
impl From<UserDto> for User {
    fn from(user: UserDto) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            full_name: user.full_name,
            password_hash: String::new(),
            created_at: Timestamp(user.created_at),
            last_active_at: Timestamp(user.last_active_at),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct SessionUserDto {
    #[serde(rename = "u")]
    pub user: UserDto,
    #[serde(rename = "l")]
    session_last_used_at: i64,
}

impl From<SessionUser> for SessionUserDto {
    fn from(found: SessionUser) -> Self {
        Self {
            user: found.user.into(),
            session_last_used_at: found.session_last_used_at.0,
        }
    }
}

impl From<SessionUserDto> for SessionUser {
    fn from(found: SessionUserDto) -> Self {
        Self {
            user: found.user.into(),
            session_last_used_at: Timestamp(found.session_last_used_at),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct MessageDto {
    #[serde(rename = "i")]
    id: MessageId,
    #[serde(rename = "v")]
    conversation_id: ConversationId,
    #[serde(rename = "q")]
    seq: i64,
    #[serde(rename = "s")]
    sender_id: UserId,
    #[serde(rename = "r")]
    recipient_id: UserId,
    #[serde(rename = "c")]
    content: String,
    #[serde(rename = "t")]
    created_at: i64,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    edited_at: Option<i64>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    deleted_at: Option<i64>,
}

impl From<DirectMessage> for MessageDto {
    fn from(
        DirectMessage {
            message,
            recipient_id,
        }: DirectMessage,
    ) -> Self {
        Self {
            id: message.id,
            conversation_id: message.conversation_id,
            seq: message.seq,
            sender_id: message.sender_id,
            recipient_id,
            content: message.content,
            created_at: message.created_at.0,
            edited_at: message.edited_at.map(|at| at.0),
            deleted_at: message.deleted_at.map(|at| at.0),
        }
    }
}

impl From<MessageDto> for DirectMessage {
    fn from(message: MessageDto) -> Self {
        Self {
            message: Message {
                id: message.id,
                conversation_id: message.conversation_id,
                seq: message.seq,
                sender_id: message.sender_id,
                content: message.content,
                created_at: Timestamp(message.created_at),
                edited_at: message.edited_at.map(Timestamp),
                deleted_at: message.deleted_at.map(Timestamp),
                // Only direct conversations' texts are cached (the Chat Service's pages).
                kind: MessageKind::Text,
                subject_id: None,
            },
            recipient_id: message.recipient_id,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct PageDto {
    #[serde(rename = "m")]
    items: Vec<MessageDto>,
    #[serde(rename = "t")]
    total: i64,
}

impl From<Page<DirectMessage>> for PageDto {
    fn from(page: Page<DirectMessage>) -> Self {
        Self {
            items: page.items.into_iter().map(MessageDto::from).collect(),
            total: page.total,
        }
    }
}

impl From<PageDto> for Page<DirectMessage> {
    fn from(page: PageDto) -> Self {
        Self {
            items: page.items.into_iter().map(DirectMessage::from).collect(),
            total: page.total,
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_cached_user_never_carries_the_password_hash() {
        let user = User {
            id: UserId(7),
            username: "alice".into(),
            email: "alice@example.com".into(),
            full_name: None,
            password_hash: "$argon2id$v=19$secret".into(),
            created_at: Timestamp(1),
            last_active_at: Timestamp(2),
        };
        let stored = serde_json::to_string(&UserDto::from(user)).unwrap();
        assert!(!stored.contains("argon2"), "{stored}");
        let back: User = serde_json::from_str::<UserDto>(&stored).unwrap().into();
        assert_eq!(back.password_hash, "");
        assert_eq!((back.id, back.username.as_str()), (UserId(7), "alice"));
    }
    use super::*;

    #[test]
    fn a_page_survives_the_round_trip() {
        let message = DirectMessage {
            message: Message {
                id: MessageId(7),
                conversation_id: ConversationId(3),
                seq: 2,
                sender_id: UserId(1),
                content: "héllo \"there\"".into(),
                created_at: Timestamp(1_700_000_000_000_000),
                edited_at: Some(Timestamp(1_700_000_000_000_001)),
                deleted_at: None,
                kind: MessageKind::Text,
                subject_id: None,
            },
            recipient_id: UserId(2),
        };
        let page = Page {
            items: vec![message],
            total: 9,
        };
        let bytes = serde_json::to_vec(&PageDto::from(page.clone())).unwrap();
        let back: PageDto = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(Page::from(back), page);
    }
}
