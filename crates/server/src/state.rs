//! `AppState`: the one shared state of a running instance. Infrastructure that has more than
//! one implementation (the store and its decorators, the rate limiter) sits behind a trait
//! object, so handlers never depend on which is configured.

use std::sync::Arc;

use missive_store::Store;
use tokio_util::task::TaskTracker;

use crate::auth::{Passwords, Tokens};
use crate::config::Config;
use crate::limits::RateLimiter;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    tokens: Tokens,
    passwords: Passwords,
    limiter: Arc<dyn RateLimiter>,
    /// Every connection, every request's work and the session-use updates, so that shutdown
    /// can wait for them. (Background upkeep is tracked apart, in `App::serve`.)
    tasks: TaskTracker,
}

impl AppState {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        passwords: Passwords,
        limiter: Arc<dyn RateLimiter>,
    ) -> Self {
        let tokens = Tokens::new(&config.secret_key, config.access_token_ttl);
        Self(Arc::new(Inner {
            config,
            store,
            tokens,
            passwords,
            limiter,
            tasks: TaskTracker::new(),
        }))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }
    pub fn store(&self) -> &dyn Store {
        self.0.store.as_ref()
    }
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }
    pub fn passwords(&self) -> &Passwords {
        &self.0.passwords
    }
    pub fn limiter(&self) -> &dyn RateLimiter {
        self.0.limiter.as_ref()
    }
    pub fn tasks(&self) -> &TaskTracker {
        &self.0.tasks
    }
}
