//! Rate limits. Routes have named rules ([`Rules`]); a [`RateLimiter`] counts requests per
//! rule and key (the user, or the client IP without a valid token). In-process by default
//! ([`MemoryLimiter`]); shared by every instance through Redis when `REDIS_URL` is set.
//!
//! Both count with a sliding-window log: a request is allowed when fewer than `limit`
//! requests were allowed in the last `window`. Unlike a fixed window (which lets 2 x limit
//! through around a window boundary) or GCRA (which lets a full burst through and then
//! refills, close to 2 x limit in one window), this is exact: never more than `limit` in
//! any `window`. Refused requests are not counted.

mod memory;
mod redis;
pub mod rules;

use std::time::Duration;

use async_trait::async_trait;

pub use self::redis::RedisLimiter;
pub use memory::MemoryLimiter;
pub use rules::{Counts, KeyBy, Rule, Rules};

/// What a limiter says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests still allowed in the current window after this one.
    pub remaining: u32,
    /// Time until the oldest counted request leaves the window, freeing a slot (zero when
    /// none is counted). For a refused request: when to retry.
    pub reset_after: Duration,
}

/// What `reserve` counted, so that `refund` can remove exactly it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ticket {
    InProcess(std::time::Instant),
    /// The entry in Redis's log.
    Shared(String),
}

/// Whether the limiter is working as configured, for `/readyz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimiterHealth {
    Ok,
    /// The shared limiter is unreachable; limits are being kept per instance meanwhile.
    Degraded,
}

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request against `rule` for `key` if it is allowed. Never fails: a limiter
    /// that cannot reach its backend falls back rather than refusing or erroring.
    async fn check(&self, rule: &Rule, key: &str) -> Decision;

    /// Counts one request like `check`, with a ticket for taking it back: for rules that count
    /// only some outcomes, which are known once the request has run.
    async fn reserve(&self, rule: &Rule, key: &str) -> (Decision, Option<Ticket>);

    /// Takes back a request counted by `reserve`.
    async fn refund(&self, rule: &Rule, key: &str, ticket: Ticket);

    /// For `/readyz`. May check the backend, so that an outage and its end are noticed even
    /// while no limited request arrives.
    async fn health(&self) -> LimiterHealth {
        LimiterHealth::Ok
    }
}
