//! The shared limiter: the same sliding-window log as [`MemoryLimiter`], kept in Redis so that
//! every instance counts against one log, with an in-process fallback while Redis is away.
//!
//! Why this shape:
//! - One Lua script per request: trimming the log, counting it and adding to it is one atomic
//!   step and one round trip. Counting and then adding from here would let two instances both
//!   see `limit - 1` and both add, under exactly the concurrency a limit is for.
//! - A sorted set per rule and key, scored by request time: the exact log `MemoryLimiter`
//!   keeps, so a limit means the same with or without Redis. It holds at most `limit` members
//!   (refused requests are not added) and expires one window after its newest request.
//! - Redis's clock (`TIME`), never the caller's: instances whose clocks disagree would
//!   otherwise trim each other's requests early or late.
//! - A member is that time plus a random id from the caller, so two requests in the same
//!   microsecond are two members, not one.
//! - `redis::Script` sends `EVALSHA` and the script body only when Redis does not know it
//!   (after a restart or failover). One key per script, so it also works on a Redis Cluster.
//!
//! When Redis fails or does not answer within [`BUDGET`](crate::redis_conn::BUDGET), the request is answered by an
//! in-process [`MemoryLimiter`] instead, never with an error: a limit is a brake on abuse, and
//! counting per instance for a while (so at most N x limit across N instances, and a fresh
//! count at the switch) beats refusing or failing every limited request. After a failure,
//! requests skip Redis for [`PAUSE`](crate::redis_conn::PAUSE); then the first request (or readiness check) tries it
//! again. So a dead or silent Redis costs one request per pause a wait of at most the budget,
//! and limits become shared again by themselves once Redis answers (its connection reconnects
//! on its own). Requests counted in-process meanwhile are not copied to Redis.

use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::memory::log_key;
use super::{Decision, LimiterHealth, MemoryLimiter, RateLimiter, Rule, Ticket};
use crate::redis_conn::{Breaker, Redis, Unreachable, within_budget};

/// KEYS[1]: the log, a sorted set of request times in microseconds (Redis's clock).
/// ARGV: the limit, the window in microseconds, a random id for this request.
/// Returns {1 if allowed else 0, requests now counted, microseconds until the oldest leaves,
/// the entry counted for this request ('' if refused), which a refund removes}.
const SLIDING_LOG: &str = r"
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local counted = redis.call('ZCARD', KEYS[1])
local allowed = 0
local entry = ''
if counted < limit then
  allowed = 1
  counted = counted + 1
  entry = time[1] .. '.' .. time[2] .. ':' .. ARGV[3]
  redis.call('ZADD', KEYS[1], now, entry)
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
end
local reset = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  reset = tonumber(oldest[2]) + window - now
end
return {allowed, counted, reset, entry}
";

pub struct RedisLimiter {
    redis: Redis,
    script: Script,
    fallback: MemoryLimiter,
    /// Whether Redis answered last time: while it is down, answer in-process and report
    /// degraded.
    breaker: Breaker,
}

impl RedisLimiter {
    /// `longest_window`: the longest window of any rule, for the in-process fallback.
    pub fn new(redis: Redis, longest_window: Duration) -> Self {
        Self {
            redis,
            script: Script::new(SLIDING_LOG),
            fallback: MemoryLimiter::new(longest_window),
            breaker: Breaker::default(),
        }
    }

    async fn shared_check(
        &self,
        rule: &Rule,
        key: &str,
    ) -> Result<(Decision, String), Unreachable> {
        let log = self.redis.key(format_args!("limit:{}", log_key(rule, key)));
        let window_micros = u64::try_from(rule.window.as_micros()).unwrap_or(u64::MAX);
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(log)
            .arg(rule.limit)
            .arg(window_micros)
            .arg(rand::random::<u64>());
        let mut connection = self.redis.connection.clone();
        let reply = invocation.invoke_async::<(i64, i64, i64, String)>(&mut connection);
        let (allowed, counted, reset_micros, entry) = within_budget(reply).await?;
        let decision = Decision {
            allowed: allowed == 1,
            limit: rule.limit,
            remaining: rule
                .limit
                .saturating_sub(u32::try_from(counted).unwrap_or(u32::MAX)),
            // Capped: a Redis whose clock stepped back (a failover) must not ask for more.
            reset_after: Duration::from_micros(u64::try_from(reset_micros).unwrap_or(0))
                .min(rule.window),
        };
        Ok((decision, entry))
    }

    /// The shared decision, or `None` while Redis is down (the caller falls back).
    async fn try_shared(&self, rule: &Rule, key: &str) -> Option<(Decision, String)> {
        if !self.breaker.may_try() {
            return None;
        }
        match self.shared_check(rule, key).await {
            Ok(counted) => {
                self.succeeded();
                Some(counted)
            }
            Err(err) => {
                self.failed(&err);
                None
            }
        }
    }

    async fn ping(&self) -> Result<(), Unreachable> {
        let mut connection = self.redis.connection.clone();
        within_budget(redis::cmd("PING").query_async::<()>(&mut connection)).await
    }

    fn succeeded(&self) {
        if self.breaker.succeeded() {
            tracing::info!("Redis answers again: rate limits are shared by every instance");
        }
    }

    fn failed(&self, err: &Unreachable) {
        if self.breaker.failed() {
            tracing::warn!(
                error = %err,
                "Redis is unreachable: each instance counts rate limits alone until it returns"
            );
        }
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, rule: &Rule, key: &str) -> Decision {
        self.reserve(rule, key).await.0
    }

    async fn reserve(&self, rule: &Rule, key: &str) -> (Decision, Option<Ticket>) {
        match self.try_shared(rule, key).await {
            Some((decision, entry)) => {
                let ticket = (!entry.is_empty()).then_some(Ticket::Shared(entry));
                (decision, ticket)
            }
            None => {
                crate::metrics::redis_fallback("rate_limit");
                self.fallback.reserve(rule, key).await
            }
        }
    }

    async fn refund(&self, rule: &Rule, key: &str, ticket: Ticket) {
        match ticket {
            Ticket::Shared(entry) => {
                let log = self.redis.key(format_args!("limit:{}", log_key(rule, key)));
                let mut connection = self.redis.connection.clone();
                let mut command = redis::cmd("ZREM");
                command.arg(log).arg(entry);
                let removed = command.query_async::<()>(&mut connection);
                // A refund that does not arrive only makes the limit stricter for a while.
                if let Err(err) = within_budget(removed).await {
                    self.failed(&err);
                }
            }
            ticket @ Ticket::InProcess(_) => self.fallback.refund(rule, key, ticket).await,
        }
    }

    async fn health(&self) -> LimiterHealth {
        if self.breaker.may_try() {
            match self.ping().await {
                Ok(()) => self.succeeded(),
                Err(err) => self.failed(&err),
            }
        }
        if self.breaker.is_down() {
            LimiterHealth::Degraded
        } else {
            LimiterHealth::Ok
        }
    }
}

#[cfg(test)]
mod tests;
