//! Caching of the hot reads: the use-case layer (`core`) answers the token check, a user by id
//! and the Chat Service's history pages through [`read_through`], and after every committed
//! write hands the store's changes to [`retire`]. Handlers never see the cache.
//!
//! Two caches: [`MemoryCache`] (moka, in this process, bounded; right for one instance) and
//! [`RedisCache`] (shared by every instance, so a write through one instance is never followed
//! by an old answer from another).
//!
//! # Why a cached read can never show an older state than a finished write
//!
//! Entries are never updated in place and never trusted on their own. Every entry is stored
//! with a *stamp*: the values of the version keys it depends on, read *before* the database
//! was. A write changes the version keys it affects *after* its transaction commits (see
//! `entries.rs` for which write changes which key). A reader fetches the versions and the entry
//! together (one `MGET`) and serves the entry only if its stamp equals the versions now. So:
//!
//! - a write that finished before a read began has changed a version, so any entry read from
//!   the database before that write committed carries an older stamp and is a miss;
//! - a slow reader that loaded old data can only store it under the old stamp, which no later
//!   reader accepts;
//! - a version is never incremented but replaced by a random 64-bit value it never had, and a
//!   version that is missing (expired, evicted, never set) makes every read of it a miss. So
//!   an evicted or expired version key can never "come back" to a value an old entry carries,
//!   as an `INCR` counter would after a reset.
//!
//! The versions are checked against the stamp inside an entry rather than being part of its
//! key: the same guarantee as versioned keys, but the versions and the entry come back in one
//! round trip, and an entry has one slot rather than one per version.
//!
//! Every entry also expires after [`ENTRY_TTL`], a backstop for what versions cannot cover: a
//! session reaching its expiry time (time passing changes no version), and an instance that
//! cannot reach Redis while others can (see [`RedisCache`]).

mod dto;
mod entries;
mod memory;
mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use self::dto::{PageDto, SessionUserDto, UserDto};
pub use self::entries::{
    EPOCH, history_key, history_versions, read_through, retire, retire_all_if_uncertain,
    session_key, user_gen, user_key,
};
pub use self::memory::MemoryCache;
pub use self::redis::RedisCache;

/// How long any cached entry lives at most, whatever happens to its versions.
pub const ENTRY_TTL: Duration = Duration::from_secs(10);
/// How long a version key lives after it last changed. Only a bound on memory: a version that
/// has expired reads as missing, which is a miss, never a stale hit.
pub const VERSION_TTL: Duration = Duration::from_secs(24 * 3600);

/// A byte cache with version keys. Never fails: a cache that cannot answer behaves as a miss,
/// and a write it cannot make is skipped (the [`RedisCache`] documents what it does then).
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The values of `keys` in one round trip, in order; `None` for a miss.
    async fn get(&self, keys: &[String]) -> Vec<Option<Vec<u8>>>;
    /// Stores `value` under `key` for `ttl`.
    async fn put(&self, key: &str, value: Vec<u8>, ttl: Duration);
    /// Gives each version key a new value it never had ([`fresh_version`]).
    async fn bump(&self, keys: &[String]);
    /// Gives each version key a fresh value unless it has one.
    async fn init(&self, keys: &[String]);
    async fn remove(&self, key: &str);
    /// Where the entries live, for the start-up log.
    fn location(&self) -> &'static str;
}

/// A version value no key has held before (with overwhelming probability: 64 random bits).
pub fn fresh_version() -> Vec<u8> {
    format!("{:016x}", rand::random::<u64>()).into_bytes()
}
