//! `AppState`: the one shared state of a running instance: the configuration, the use cases
//! ([`Core`]), the rate limiter (behind a trait object: in-process or Redis) and the tracker
//! of every task a request leaves running.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::core::Core;
use crate::limits::RateLimiter;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: Config,
    core: Core,
    limiter: Arc<dyn RateLimiter>,
    /// Every connection, every request's work and the session-use updates, so that shutdown
    /// can wait for them. (Background upkeep is tracked apart, in `App::serve`.)
    tasks: TaskTracker,
    /// Cancelled when shutdown begins: long-lived streams end then (telling clients to
    /// resume) rather than holding the shutdown up.
    stopping: CancellationToken,
}

impl AppState {
    pub fn new(
        config: Config,
        core: Core,
        limiter: Arc<dyn RateLimiter>,
        tasks: TaskTracker,
    ) -> Self {
        Self(Arc::new(Inner {
            config,
            core,
            limiter,
            tasks,
            stopping: CancellationToken::new(),
        }))
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }
    pub fn core(&self) -> &Core {
        &self.0.core
    }
    pub fn limiter(&self) -> &dyn RateLimiter {
        self.0.limiter.as_ref()
    }
    pub fn tasks(&self) -> &TaskTracker {
        &self.0.tasks
    }
    pub fn stopping(&self) -> &CancellationToken {
        &self.0.stopping
    }
}
