//! The shared cache: entries and version keys in Redis under `{prefix}:cache:`, so every
//! instance serves what any instance cached and sees every instance's invalidations.
//!
//! When Redis fails or does not answer within [`BUDGET`](crate::redis_conn::BUDGET), reads are misses (the database
//! answers) and writes to the cache are skipped: never an error, never a wait longer than the
//! budget. Going away is logged once, coming back once. After a failure, requests skip Redis
//! for [`PAUSE`](crate::redis_conn::PAUSE); then the first one tries it again.
//!
//! An invalidation that could not be made is not forgotten: before this instance uses Redis
//! again, it replaces the epoch (a version every entry is stamped with), so nothing cached
//! before the outage, which may predate a write made during it, is served again. What no cache
//! can prevent: while *this* instance cannot reach Redis but others can, they may serve entries
//! its writes should have invalidated, for at most [`ENTRY_TTL`](super::ENTRY_TTL).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::entries::EPOCH;
use super::{Cache, VERSION_TTL, fresh_version};
use crate::redis_conn::{Breaker, Redis, Unreachable, millis, within_budget};

pub struct RedisCache {
    redis: Redis,
    /// Whether Redis answered last time: while it is down, operations skip it.
    breaker: Breaker,
    /// How many invalidations could not be made, and how many of them the last epoch
    /// replacement covers.
    missed: AtomicU64,
    covered: AtomicU64,
}

impl RedisCache {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            breaker: Breaker::default(),
            missed: AtomicU64::new(0),
            covered: AtomicU64::new(0),
        }
    }

    fn key(&self, key: &str) -> String {
        self.redis.key(format_args!("cache:{key}"))
    }

    /// Runs `pipe` if Redis is usable; `None` (having noted the failure) if not.
    async fn run<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Option<T> {
        if !self.ready().await {
            crate::metrics::redis_fallback("cache");
            return None;
        }
        let mut connection = self.redis.connection.clone();
        match within_budget(pipe.query_async::<T>(&mut connection)).await {
            Ok(value) => Some(value),
            Err(err) => {
                self.failed(&err);
                crate::metrics::redis_fallback("cache");
                None
            }
        }
    }

    /// Whether to use Redis now. While it is down, one caller per pause tries it: first
    /// replacing the epoch if invalidations were missed meanwhile, else with a `PING`.
    async fn ready(&self) -> bool {
        if !self.breaker.is_down() {
            return true;
        }
        if !self.breaker.may_try() {
            return false;
        }
        let missed = self.missed.load(Ordering::Acquire);
        let mut probe = redis::pipe();
        if missed == self.covered.load(Ordering::Acquire) {
            probe.cmd("PING");
        } else {
            set_version(&mut probe, self.key(EPOCH), false);
        }
        let mut connection = self.redis.connection.clone();
        if let Err(err) = within_budget(probe.query_async::<()>(&mut connection)).await {
            self.failed(&err);
            return false;
        }
        self.covered.store(missed, Ordering::Release);
        self.breaker.succeeded();
        // An invalidation missed while this ran may postdate the new epoch: stay down, so
        // the next try replaces it again. (A missed invalidation counts before it marks
        // down, so either this sees it or its mark comes after ours.)
        if self.missed.load(Ordering::Acquire) != missed {
            self.breaker.mark_down();
            return false;
        }
        tracing::info!("Redis answers again: the cache is shared by every instance again");
        true
    }

    fn failed(&self, err: &Unreachable) {
        if self.breaker.failed() {
            tracing::warn!(
                error = %err,
                "Redis is unreachable: the cache is bypassed (reads go to the database) until \
                 it returns"
            );
        }
    }

    /// Remembers an invalidation that was not made, then marks Redis down (in this order:
    /// see `ready`).
    fn missed_invalidation(&self) {
        self.missed.fetch_add(1, Ordering::AcqRel);
        self.breaker.mark_down();
    }

    #[cfg(test)]
    fn is_down(&self) -> bool {
        self.breaker.is_down()
    }
}

fn set_version(pipe: &mut redis::Pipeline, key: String, only_if_missing: bool) {
    let command = pipe
        .cmd("SET")
        .arg(key)
        .arg(fresh_version())
        .arg("PX")
        .arg(millis(VERSION_TTL));
    if only_if_missing {
        command.arg("NX");
    }
    command.ignore();
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, keys: &[String]) -> Vec<Option<Vec<u8>>> {
        let mut pipe = redis::pipe();
        pipe.cmd("MGET")
            .arg(keys.iter().map(|key| self.key(key)).collect::<Vec<_>>());
        match self.run::<(Vec<Option<Vec<u8>>>,)>(&pipe).await {
            Some((values,)) if values.len() == keys.len() => values,
            _ => vec![None; keys.len()],
        }
    }

    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl).max(1))
            .ignore();
        self.run::<()>(&pipe).await;
    }

    async fn bump(&self, keys: &[String]) {
        let mut pipe = redis::pipe();
        for key in keys {
            set_version(&mut pipe, self.key(key), false);
        }
        if self.run::<()>(&pipe).await.is_none() {
            self.missed_invalidation();
        }
    }

    async fn init(&self, keys: &[String]) {
        let mut pipe = redis::pipe();
        for key in keys {
            set_version(&mut pipe, self.key(key), true);
        }
        self.run::<()>(&pipe).await;
    }

    async fn remove(&self, key: &str) {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(self.key(key)).ignore();
        self.run::<()>(&pipe).await;
    }

    fn location(&self) -> &'static str {
        "Redis"
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::redis_conn::BUDGET;

    /// A Redis URL nothing listens on.
    async fn closed_port_url() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("redis://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_a_quick_miss_and_never_an_error() {
        let redis = Redis::connect(&closed_port_url().await, "test").unwrap();
        let cache = RedisCache::new(redis);
        let keys = vec!["a".to_owned(), "b".to_owned()];
        let started = Instant::now();

        assert_eq!(cache.get(&keys).await, vec![None, None]);
        assert!(cache.is_down());
        cache
            .put("a", b"value".to_vec(), Duration::from_secs(1))
            .await;
        cache.init(&keys).await;
        cache.remove("a").await;
        assert_eq!(cache.get(&keys).await, vec![None, None]);

        assert!(started.elapsed() < 2 * BUDGET, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn an_invalidation_missed_while_down_is_remembered() {
        let redis = Redis::connect(&closed_port_url().await, "test").unwrap();
        let cache = RedisCache::new(redis);
        cache.bump(&["pair:1:2:ver".to_owned()]).await;
        assert!(cache.is_down());
        assert_eq!(cache.missed.load(Ordering::Acquire), 1);
        assert_eq!(cache.covered.load(Ordering::Acquire), 0);
        // Skipped while paused: still remembered.
        cache.bump(&["pair:1:2:ver".to_owned()]).await;
        assert_eq!(cache.missed.load(Ordering::Acquire), 2);
    }
}
