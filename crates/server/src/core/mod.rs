//! The use cases: what missive does, whichever face asks (the `/v1` API, the two
//! compatibility faces, tests without HTTP, an admin command). One module per area, each a
//! block of `impl Core` methods. A use case takes validated input (`domain`), checks the
//! rules, calls the store, and answers with the store's rows or a [`CoreError`].
//!
//! Every write goes through [`Core::commit`]: the store reports what it changed
//! ([`missive_store::Change`]) and [`Core::after_commit`], the one post-commit point, retires
//! the cache entries it made stale (and is where live delivery and metrics will hear of it).
//! The three cached reads (the token check, a user by id, the Chat Service's history pages)
//! go through `cache::read_through`.

mod accounts;
mod admin;
mod conversations;
pub mod domain;
mod error;
mod events;
mod groups;
pub mod input;
mod messages;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use missive_store::{AccountChange, Change, Changes, SqlStore, StoreError};
use tokio_util::task::TaskTracker;

pub use self::accounts::{LoginName, NewAccount};
pub use self::admin::FindError;
pub use self::error::CoreError;
pub use self::events::{Batch, LiveEvent, MAX_PAGE as MAX_EVENT_PAGE};
pub use self::messages::SendRequest;
pub use self::sessions::{Caller, NewSession, Opened, Refresh};
use crate::auth::{Passwords, Tokens};
use crate::cache::{self, Cache};
use crate::config::Config;
use crate::doorbell::{Doorbell, Ring};

/// The use cases and what they need. Cheap to clone.
#[derive(Clone)]
pub struct Core(Arc<Inner>);

struct Inner {
    store: SqlStore,
    /// `None` when `MISSIVE_CACHE=off`.
    cache: Option<Arc<dyn Cache>>,
    /// Tells open event streams, here and on other instances, that something changed.
    doorbell: Arc<Doorbell>,
    passwords: Passwords,
    tokens: Tokens,
    policy: Policy,
    /// Work a use case leaves running after it answers (recording a session's use), so that
    /// shutdown can wait for it.
    tasks: TaskTracker,
}

/// The rules that come from the configuration.
struct Policy {
    /// A `/v1` session ends after this long without a refresh.
    session_idle: Duration,
    /// A compatibility-face session ends with its access token.
    access_token_ttl: Duration,
    /// How long an idempotency key is remembered.
    idempotency_ttl: Duration,
    /// How long events are kept.
    event_retention: Duration,
    /// Longest message, in characters.
    max_message_chars: usize,
    /// Most members a group may have.
    max_group_members: usize,
}

impl Core {
    pub fn new(
        config: &Config,
        store: SqlStore,
        cache: Option<Arc<dyn Cache>>,
        doorbell: Arc<Doorbell>,
        passwords: Passwords,
        tasks: TaskTracker,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            cache,
            doorbell,
            passwords,
            tokens: Tokens::new(&config.secret_key, config.access_token_ttl),
            policy: Policy {
                session_idle: config.session_idle,
                access_token_ttl: config.access_token_ttl,
                idempotency_ttl: config.idempotency_ttl,
                event_retention: config.event_retention,
                max_message_chars: config.max_message_chars,
                max_group_members: config.max_group_members,
            },
            tasks,
        }))
    }

    fn store(&self) -> &SqlStore {
        &self.0.store
    }

    /// The doorbell, for the background task that hears other instances.
    pub fn doorbell(&self) -> Arc<Doorbell> {
        Arc::clone(&self.0.doorbell)
    }

    /// Access tokens, for the rate limiter's "who is this" (which needs no database).
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }

    /// Database connections open, and idle (for metrics).
    pub fn pool_usage(&self) -> (u32, usize) {
        self.store().pool().usage()
    }

    /// Password hashes queued, and running (for metrics).
    pub fn password_work(&self) -> (usize, usize) {
        self.0.passwords.load()
    }

    /// Whether the database answers.
    pub async fn database_ready(&self) -> Result<(), CoreError> {
        Ok(self.store().ping().await?)
    }

    /// Forgets idempotency keys, sessions and events past keeping (keys and sessions are
    /// already ignored when met; a stream whose cursor is older than the events kept is told
    /// to reset). Returns how many of each went.
    pub async fn purge_expired(&self) -> Result<(u64, u64, u64), CoreError> {
        use missive_store::prelude::*;
        let now = missive_store::Timestamp::now();
        let keys = self
            .store()
            .purge_idempotency_keys(now.minus(self.0.policy.idempotency_ttl))
            .await?;
        let sessions = self
            .store()
            .purge_sessions(now.minus(self.0.policy.session_idle))
            .await?;
        let events = self
            .store()
            .purge_events(now.minus(self.0.policy.event_retention))
            .await?;
        Ok((keys, sessions, events))
    }

    /// Settles a store write: once it committed, hands its changes to [`Self::after_commit`];
    /// when it failed in a way that may still have committed, treats everything as changed.
    async fn commit<T>(&self, written: Result<(T, Changes), StoreError>) -> Result<T, CoreError> {
        match written {
            Ok((value, changes)) => {
                self.after_commit(&changes).await;
                Ok(value)
            }
            Err(err) => {
                if let Some(cache) = self.cache() {
                    cache::retire_all_if_uncertain(cache, &err).await;
                }
                Err(err.into())
            }
        }
    }

    /// The one place that learns, after commit, what every write changed: it retires the
    /// cache entries the changes made stale, then rings the doorbell of every user whose
    /// stream got an event or whose sessions changed (in that order, so a stream woken by the
    /// bell reads past the cache's stale entries).
    async fn after_commit(&self, changes: &Changes) {
        if changes.is_empty() {
            return;
        }
        if let Some(cache) = self.cache() {
            cache::retire(cache, changes).await;
        }
        let rings = rings(changes);
        if !rings.is_empty() {
            self.0.doorbell.ring(&rings).await;
        }
    }

    /// The cache, if on: for `cache::read_through`.
    fn cache(&self) -> Option<&dyn Cache> {
        self.0.cache.as_deref()
    }
}

/// The doorbell rings a set of changes calls for.
fn rings(changes: &Changes) -> Vec<Ring> {
    let mut rings = Vec::new();
    for change in changes {
        match change {
            Change::Conversation { events, .. } => {
                rings.extend(events.iter().map(|&(user, seq)| Ring::Head(user, seq)));
            }
            Change::Account { user, what } => match what {
                AccountChange::SessionsEnded | AccountChange::Deleted => {
                    rings.push(Ring::Sessions(*user));
                }
                AccountChange::Created
                | AccountChange::Active
                | AccountChange::Updated
                | AccountChange::SessionOpened(_)
                | AccountChange::SessionUsed(_) => {}
            },
        }
    }
    rings
}
