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
//! When Redis fails or does not answer within [`BUDGET`], the request is answered by an
//! in-process [`MemoryLimiter`] instead, never with an error: a limit is a brake on abuse, and
//! counting per instance for a while (so at most N x limit across N instances, and a fresh
//! count at the switch) beats refusing or failing every limited request. After a failure,
//! requests skip Redis for [`PAUSE`]; then the first request (or readiness check) tries it
//! again. So a dead or silent Redis costs one request per pause a wait of at most the budget,
//! and limits become shared again by themselves once Redis answers (its connection reconnects
//! on its own). Requests counted in-process meanwhile are not copied to Redis.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::Script;

use super::memory::log_key;
use super::{Decision, LimiterHealth, MemoryLimiter, RateLimiter, Rule};
use crate::redis_conn::Redis;

/// How long a request waits for Redis before it is answered in-process. A little above the
/// connection's own command timeout, so that its error (which says more) usually comes first.
const BUDGET: Duration = Duration::from_millis(500);
/// After a failure, how long requests go straight to the in-process limiter.
const PAUSE: Duration = Duration::from_secs(1);

/// KEYS[1]: the log, a sorted set of request times in microseconds (Redis's clock).
/// ARGV: the limit, the window in microseconds, a random id for this request.
/// Returns {1 if allowed else 0, requests now counted, microseconds until the oldest leaves}.
const SLIDING_LOG: &str = r"
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local counted = redis.call('ZCARD', KEYS[1])
local allowed = 0
if counted < limit then
  allowed = 1
  counted = counted + 1
  redis.call('ZADD', KEYS[1], now, time[1] .. '.' .. time[2] .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
end
local reset = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  reset = tonumber(oldest[2]) + window - now
end
return {allowed, counted, reset}
";

/// Why Redis could not answer, for the one warning an outage gets.
#[derive(Debug, thiserror::Error)]
enum Unreachable {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Slow(Duration),
}

pub struct RedisLimiter {
    redis: Redis,
    script: Script,
    fallback: MemoryLimiter,
    /// Redis failed last time it was tried: answer in-process and report degraded.
    down: AtomicBool,
    /// While down: when (milliseconds after `epoch`) Redis may be tried again.
    retry_at: AtomicU64,
    epoch: Instant,
}

impl RedisLimiter {
    /// `longest_window`: the longest window of any rule, for the in-process fallback.
    pub fn new(redis: Redis, longest_window: Duration) -> Self {
        Self {
            redis,
            script: Script::new(SLIDING_LOG),
            fallback: MemoryLimiter::new(longest_window),
            down: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    async fn shared_check(&self, rule: &Rule, key: &str) -> Result<Decision, Unreachable> {
        let log = self.redis.key(format_args!("limit:{}", log_key(rule, key)));
        let window_micros = u64::try_from(rule.window.as_micros()).unwrap_or(u64::MAX);
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(log)
            .arg(rule.limit)
            .arg(window_micros)
            .arg(rand::random::<u64>());
        let mut connection = self.redis.connection.clone();
        let reply = invocation.invoke_async::<(i64, i64, i64)>(&mut connection);
        let (allowed, counted, reset_micros) = within_budget(reply).await?;
        Ok(Decision {
            allowed: allowed == 1,
            limit: rule.limit,
            remaining: rule
                .limit
                .saturating_sub(u32::try_from(counted).unwrap_or(u32::MAX)),
            // Capped: a Redis whose clock stepped back (a failover) must not ask for more.
            reset_after: Duration::from_micros(u64::try_from(reset_micros).unwrap_or(0))
                .min(rule.window),
        })
    }

    async fn ping(&self) -> Result<(), Unreachable> {
        let mut connection = self.redis.connection.clone();
        within_budget(redis::cmd("PING").query_async::<()>(&mut connection)).await
    }

    /// Whether to try Redis now: always while it is up; while down, once per pause (the first
    /// caller after the pause claims the attempt, everyone else stays in-process).
    fn may_try_redis(&self) -> bool {
        if !self.down.load(Ordering::Acquire) {
            return true;
        }
        let now = self.millis();
        let at = self.retry_at.load(Ordering::Acquire);
        now >= at
            && self
                .retry_at
                .compare_exchange(
                    at,
                    now + pause_millis(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    fn succeeded(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("Redis answers again: rate limits are shared by every instance");
        }
    }

    fn failed(&self, err: &Unreachable) {
        self.retry_at
            .store(self.millis() + pause_millis(), Ordering::Release);
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error = %err,
                "Redis is unreachable: each instance counts rate limits alone until it returns"
            );
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

fn pause_millis() -> u64 {
    u64::try_from(PAUSE.as_millis()).unwrap_or(u64::MAX)
}

async fn within_budget<T>(
    call: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, Unreachable> {
    match tokio::time::timeout(BUDGET, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Unreachable::Slow(BUDGET)),
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, rule: &Rule, key: &str) -> Decision {
        if self.may_try_redis() {
            match self.shared_check(rule, key).await {
                Ok(decision) => {
                    self.succeeded();
                    return decision;
                }
                Err(err) => self.failed(&err),
            }
        }
        self.fallback.check(rule, key).await
    }

    /// Pings Redis (unless it failed less than a pause ago), so readiness checks notice an
    /// outage, and its end, even on an instance that serves no limited route meanwhile.
    async fn health(&self) -> LimiterHealth {
        if self.may_try_redis() {
            match self.ping().await {
                Ok(()) => self.succeeded(),
                Err(err) => self.failed(&err),
            }
        }
        if self.down.load(Ordering::Acquire) {
            LimiterHealth::Degraded
        } else {
            LimiterHealth::Ok
        }
    }
}

#[cfg(test)]
mod tests;
