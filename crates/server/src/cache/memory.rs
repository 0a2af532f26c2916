//! The in-process cache: a moka cache bounded by bytes, each entry with its own time to live.
//! Right for a single instance only: another instance's writes cannot reach it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::sync::Cache as Moka;

use super::{Cache, VERSION_TTL, fresh_version};

/// The default bound on the bytes of keys and values held.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
struct Stored {
    bytes: Arc<[u8]>,
    ttl: Duration,
}

/// Each entry expires `ttl` after it was last written.
struct PerEntry;

impl Expiry<String, Stored> for PerEntry {
    fn expire_after_create(&self, _: &String, value: &Stored, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &Stored,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

pub struct MemoryCache {
    entries: Moka<String, Stored>,
}

impl MemoryCache {
    /// A cache holding at most about `max_bytes` of keys and values. Version keys are evicted
    /// like anything else; a missing version is a miss, so eviction costs hits, never
    /// correctness.
    pub fn new(max_bytes: u64) -> Self {
        let entries = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, value: &Stored| {
                u32::try_from(key.len() + value.bytes.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntry)
            .build();
        Self { entries }
    }

    fn fresh() -> Stored {
        Stored {
            bytes: fresh_version().into(),
            ttl: VERSION_TTL,
        }
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_BYTES)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, keys: &[String]) -> Vec<Option<Vec<u8>>> {
        keys.iter()
            .map(|key| self.entries.get(key).map(|stored| stored.bytes.to_vec()))
            .collect()
    }

    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let stored = Stored {
            bytes: value.into(),
            ttl,
        };
        self.entries.insert(key.to_owned(), stored);
    }

    async fn bump(&self, keys: &[String]) {
        for key in keys {
            self.entries.insert(key.clone(), Self::fresh());
        }
    }

    async fn init(&self, keys: &[String]) {
        for key in keys {
            self.entries.entry(key.clone()).or_insert_with(Self::fresh);
        }
    }

    async fn remove(&self, key: &str) {
        self.entries.invalidate(key);
    }

    fn location(&self) -> &'static str {
        "in-process"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn versions_change_on_bump_and_init_keeps_an_existing_one() {
        let cache = MemoryCache::default();
        let key = vec!["v".to_owned()];
        assert_eq!(cache.get(&key).await, vec![None]);
        cache.init(&key).await;
        let first = cache.get(&key).await;
        cache.init(&key).await;
        assert_eq!(cache.get(&key).await, first);
        cache.bump(&key).await;
        assert_ne!(cache.get(&key).await, first);
    }

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let cache = MemoryCache::default();
        cache
            .put("k", b"value".to_vec(), Duration::from_millis(50))
            .await;
        let key = vec!["k".to_owned()];
        assert_eq!(cache.get(&key).await, vec![Some(b"value".to_vec())]);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(cache.get(&key).await, vec![None]);
    }
}
