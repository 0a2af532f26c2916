//! The Redis connection every shared component (rate limits, cache) uses when `REDIS_URL` is
//! set. One multiplexed connection per process, re-established by itself after a failure;
//! every command has a short timeout, so an unreachable Redis costs a request milliseconds,
//! never a hang. Callers fall back to their in-process versions while it is away.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::secret::redact_url;

/// How long one Redis command may take before the caller treats Redis as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A handle on the shared Redis, with the prefix every key of this deployment starts with.
#[derive(Clone)]
pub struct Redis {
    pub connection: ConnectionManager,
    /// For the connections that cannot be shared (pub/sub subscriptions).
    pub client: redis::Client,
    /// `MISSIVE_REDIS_PREFIX` followed by `:`; lets deployments (or tests) share one Redis.
    pub prefix: String,
}

impl Redis {
    /// Prepares the connection without waiting for it: the service starts (degraded) even
    /// when Redis is down, and connects once it is reachable.
    pub fn connect(url: &str, prefix: &str) -> Result<Self, String> {
        let client =
            redis::Client::open(url).map_err(|err| format!("{}: {err}", redact_url(url)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|err| format!("{}: {err}", redact_url(url)))?;
        Ok(Self {
            connection,
            client,
            prefix: format!("{prefix}:"),
        })
    }

    /// A key of this deployment.
    pub fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        format!("{}{parts}", self.prefix)
    }
}

/// How long a caller waits for Redis before treating it as unreachable for this operation.
/// A little above the connection's own command timeout, so that its error (which says more)
/// usually comes first.
pub const BUDGET: Duration = Duration::from_millis(500);
/// After a failure, how long callers skip Redis before one of them tries again.
pub const PAUSE: Duration = Duration::from_secs(1);

/// Why Redis could not answer, for the one warning an outage gets.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("no answer within {0:?}")]
    Slow(Duration),
}

/// Runs a Redis call, giving up after [`BUDGET`].
pub async fn within_budget<T>(
    call: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, Unreachable> {
    match tokio::time::timeout(BUDGET, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Unreachable::Slow(BUDGET)),
    }
}

/// Whether Redis answered last time, and when to try it again after it did not. While it is
/// down callers skip it, and one caller per [`PAUSE`] tries again: a dead or silent Redis
/// costs one request per pause a wait of at most [`BUDGET`], and its return is noticed by
/// itself. Callers say what an outage means for them: `failed` and `succeeded` report the
/// transitions, so each is logged once.
pub struct Breaker {
    started: Instant,
    down: AtomicBool,
    /// While down: when (milliseconds after `started`) Redis may be tried again.
    retry_at: AtomicU64,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            down: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
        }
    }
}

impl Breaker {
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Whether this caller should use Redis now: always while it is up; while it is down,
    /// true for exactly one caller once a pause has passed.
    pub fn may_try(&self) -> bool {
        if !self.is_down() {
            return true;
        }
        let now = self.millis();
        let at = self.retry_at.load(Ordering::Acquire);
        now >= at
            && self
                .retry_at
                .compare_exchange(at, now + millis(PAUSE), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// Redis failed: skip it for a pause. True when it was up until now.
    pub fn failed(&self) -> bool {
        self.retry_at
            .store(self.millis() + millis(PAUSE), Ordering::Release);
        !self.down.swap(true, Ordering::AcqRel)
    }

    /// Marks Redis down without starting a pause (the next `may_try` after the current
    /// pause tries again).
    pub fn mark_down(&self) {
        self.down.store(true, Ordering::Release);
    }

    /// Redis answered. True when it was down until now.
    pub fn succeeded(&self) -> bool {
        self.down.swap(false, Ordering::AcqRel)
    }

    fn millis(&self) -> u64 {
        millis(self.started.elapsed())
    }
}

/// A span in whole milliseconds, as Redis's `PX` and `PEXPIRE` take it.
pub fn millis(span: Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}
