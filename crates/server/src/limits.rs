//! The rate-limiter seam. Routes name a rule and a key (user id or client IP); the limiter
//! decides. Only the "no limits" limiter exists so far: the in-process and Redis limiters,
//! and the per-route rules, are tracked in their own issue.

use async_trait::async_trait;

/// What a limiter says about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Refused; the client may retry after this many seconds.
    Limited {
        retry_after_secs: u64,
    },
}

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request against `rule` for `key` and says whether it may proceed.
    async fn check(&self, rule: &'static str, key: &str) -> Decision;
}

/// Lets every request through (`MISSIVE_RATE_LIMITS=off`, and the default until limits land).
pub struct Unlimited;

#[async_trait]
impl RateLimiter for Unlimited {
    async fn check(&self, _rule: &'static str, _key: &str) -> Decision {
        Decision::Allowed
    }
}
