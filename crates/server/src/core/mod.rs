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
mod conversations;
pub mod domain;
mod error;
pub mod input;
mod messages;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use missive_store::{Changes, SqlStore, StoreError};
use tokio_util::task::TaskTracker;

pub use self::accounts::{LoginName, NewAccount};
pub use self::error::CoreError;
pub use self::messages::SendRequest;
pub use self::sessions::{Caller, NewSession, Opened, Refresh};
use crate::auth::{Passwords, Tokens};
use crate::cache::{self, Cache};
use crate::config::Config;

/// The use cases and what they need. Cheap to clone.
#[derive(Clone)]
pub struct Core(Arc<Inner>);

struct Inner {
    store: SqlStore,
    /// `None` when `MISSIVE_CACHE=off`.
    cache: Option<Arc<dyn Cache>>,
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
}

impl Core {
    pub fn new(
        config: &Config,
        store: SqlStore,
        cache: Option<Arc<dyn Cache>>,
        passwords: Passwords,
        tasks: TaskTracker,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            cache,
            passwords,
            tokens: Tokens::new(&config.secret_key, config.access_token_ttl),
            policy: Policy {
                session_idle: config.session_idle,
                access_token_ttl: config.access_token_ttl,
                idempotency_ttl: config.idempotency_ttl,
            },
            tasks,
        }))
    }

    fn store(&self) -> &SqlStore {
        &self.0.store
    }

    /// Access tokens, for the rate limiter's "who is this" (which needs no database).
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }

    /// Where cached entries live, for the start-up log.
    pub fn cache_location(&self) -> Option<&'static str> {
        self.cache().map(Cache::location)
    }

    /// Whether the database answers.
    pub async fn database_ready(&self) -> Result<(), CoreError> {
        Ok(self.store().ping().await?)
    }

    /// Forgets idempotency keys and sessions past keeping: both are already ignored when
    /// met, this only keeps the tables small. Returns how many of each went.
    pub async fn purge_expired(&self) -> Result<(u64, u64), CoreError> {
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
        Ok((keys, sessions))
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

    /// The one place that learns, after commit, what every write changed.
    async fn after_commit(&self, changes: &Changes) {
        if changes.is_empty() {
            return;
        }
        if let Some(cache) = self.cache() {
            cache::retire(cache, changes).await;
        }
    }

    /// The cache, if on: for `cache::read_through`.
    fn cache(&self) -> Option<&dyn Cache> {
        self.0.cache.as_deref()
    }
}
