//! The rows the store hands out. Handlers map these to their own response types.

use chrono::{DateTime, Utc};

/// A point in time as unix microseconds: stored as a 64-bit integer so that both backends
/// compare and order it the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
#[sqlx(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or(DateTime::UNIX_EPOCH)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at.timestamp_micros())
    }
}

#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub password_hash: String,
    pub created_at: Timestamp,
    pub last_active_at: Timestamp,
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

/// A direct conversation between two users (`user_low <= user_high`; equal for notes to self).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Conversation {
    pub id: i64,
    #[sqlx(rename = "direct_low")]
    pub user_low: i64,
    #[sqlx(rename = "direct_high")]
    pub user_high: i64,
    pub last_seq: i64,
    pub created_at: Timestamp,
}

/// A message as its readers see it. `recipient_id` is the other member of the direct
/// conversation (the sender itself in a conversation with oneself).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub recipient_id: i64,
    pub content: String,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
}
