//! Persistence for missive: users, direct conversations and messages.
//!
//! One [`Store`] trait, one SQL implementation ([`SqlStore`]) whose queries are written once and
//! run on both SQLite and PostgreSQL. This crate knows nothing of HTTP; the server wraps the
//! store (caching, failure injection in tests) through the trait.

mod conversations;
mod error;
mod history;
mod ids;
mod messages;
mod models;
mod pool;
mod read_state;
mod sessions;
mod sql;
mod store;
mod users;

pub use error::{ConflictKind, StoreError};
pub use ids::{ConversationId, MessageId, SessionId, UserId};
pub use models::{
    AccountChanges, Conversation, ConversationSummary, HistoryWindow, Idempotency,
    MemberConversation, Message, MessageWindow, NewUser, ReadState, RefreshOutcome, SendOutcome,
    Session, SessionUser, Timestamp, User,
};
pub use pool::{Backend, DbPool, PoolSettings, SqliteSync};
pub use store::{Page, SqlStore, Store};

#[cfg(feature = "testing")]
pub mod testing;
