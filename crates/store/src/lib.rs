//! Persistence for missive: users, sessions, conversations (direct and groups) and messages.
//!
//! One SQL store ([`SqlStore`]) whose queries are written once and run on both SQLite and
//! PostgreSQL. Its methods are grouped by area in traits, each declared beside its SQL
//! (bring them into scope with `use missive_store::prelude::*`). Every write returns the
//! [`Changes`] it made, for whoever reacts after commit. Authorization lives here too: a
//! method that reads or writes on behalf of a user checks their membership in the same
//! statement or snapshot. This crate knows nothing of HTTP, caching or Redis.

mod change;
mod conversations;
mod error;
mod events;
#[cfg(feature = "testing")]
mod faults;
mod groups;
mod history;
mod idempotency;
mod ids;
mod messages;
mod models;
mod pool;
mod read_state;
mod sessions;
mod sql;
mod store;
mod users;

pub use change::{AccountChange, Change, Changes, ConversationChange, ConversationKind};
pub use conversations::ConversationStore;
pub use error::{ConflictKind, StoreError};
pub use events::{Event, EventKind, EventPage, EventStore};
#[cfg(feature = "testing")]
pub use faults::{Fault, Faults};
pub use groups::{GroupStore, Refusal, Ruled};
pub use history::HistoryStore;
pub use ids::{ConversationId, MessageId, SessionId, UserId};
pub use messages::MessageStore;
pub use models::{
    Account, AccountChanges, Altered, Conversation, ConversationSummary, DirectMessage,
    GroupOutcome, HistoryWindow, Idempotency, Member, Message, MessageKind, MessageWindow, NewUser,
    Profile, ReadState, RefreshOutcome, Role, SendOutcome, Session, SessionUser, Timestamp,
    UnknownName, User,
};
pub use pool::{Backend, DbPool, PoolSettings, SqliteSync};
pub use read_state::ReadStateStore;
pub use sessions::SessionStore;
pub use store::{Page, SqlStore};
pub use users::UserStore;

/// The store's traits, for calling its methods: `use missive_store::prelude::*;`.
pub mod prelude {
    pub use crate::{
        ConversationStore, EventStore, GroupStore, HistoryStore, MessageStore, ReadStateStore,
        SessionStore, UserStore,
    };
}

#[cfg(feature = "testing")]
pub mod testing;
