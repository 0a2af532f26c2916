//! The keys, what each cached entry depends on, and the two moves everything else is made of:
//! reading through the cache, and changing versions after a write.
//!
//! | entry                                   | stamped with the versions                    |
//! |-----------------------------------------|----------------------------------------------|
//! | `session:{session}` (the token check)   | `epoch`, `user:{id}:gen`                      |
//! | `user:{id}`                             | `epoch`, `user:{id}:gen`                      |
//! | `history:{lo}:{hi}:{viewer}:{limit}:{offset}` | `epoch`, `pair:{lo}:{hi}:ver`, both users' `gen` |
//!
//! Which version a write changes is decided in one place, [`retire`], from the [`Change`]s the
//! store reported for it:
//!
//! - `pair:{lo}:{hi}:ver` (lo <= hi: the members of a direct conversation, whoever sends)
//!   changes after every send, edit, delete and hide in that conversation. (The Chat
//!   Service's history asks by pair, so its pages are keyed by the pair.)
//! - `user:{id}:gen` changes after any write to the user or their sessions: a session ended
//!   (one or all), an account update (name or password), a login (`touch_user` moves
//!   `last_active_at`), and deleting the user, which also deletes their conversations, hence
//!   its place in the history stamp.
//! - `epoch` changes when a spent refresh token is presented again (the store ends that
//!   session without saying whose it is), when a write fails in a way that may or may not
//!   have committed, and when the Redis cache returns after missing invalidations.

use std::future::Future;

use missive_store::{
    AccountChange, Change, ConversationChange, ConversationKind, SessionId, StoreError, UserId,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Cache;
use super::ENTRY_TTL;

pub const EPOCH: &str = "epoch";

pub fn user_gen(id: UserId) -> String {
    format!("user:{id}:gen")
}

pub fn user_key(id: UserId) -> String {
    format!("user:{id}")
}

/// A page of the direct history between `viewer` and `peer`, as `viewer` sees it.
pub fn history_key(viewer: UserId, peer: UserId, limit: i64, offset: i64) -> String {
    let (lo, hi) = (viewer.min(peer), viewer.max(peer));
    format!("history:{lo}:{hi}:{viewer}:{limit}:{offset}")
}

pub fn session_key(session_id: SessionId) -> String {
    format!("session:{session_id}")
}

pub fn pair_version(a: UserId, b: UserId) -> String {
    let (lo, hi) = (a.min(b), a.max(b));
    format!("pair:{lo}:{hi}:ver")
}

/// The versions a history page between `a` and `b` depends on.
pub fn history_versions(a: UserId, b: UserId) -> Vec<String> {
    let mut versions = vec![EPOCH.to_owned(), pair_version(a, b), user_gen(a)];
    if a != b {
        versions.push(user_gen(b));
    }
    versions
}

/// Serves `key` if it was stored under the versions current now; otherwise loads it and
/// stores it under the versions read before loading (see the module docs of `cache` for
/// why that cannot serve an older state than a finished write). `fits` rejects an entry
/// that does not answer this question (stored for the same key by another question).
/// Without a cache (`MISSIVE_CACHE=off`), simply loads.
pub async fn read_through<D, Load>(
    cache: Option<&dyn Cache>,
    key: String,
    versions: Vec<String>,
    fits: impl Fn(&D) -> bool + Send,
    load: impl FnOnce() -> Load + Send,
) -> Result<Option<D>, StoreError>
where
    D: Serialize + DeserializeOwned + Send,
    Load: Future<Output = Result<Option<D>, StoreError>> + Send,
{
    let Some(cache) = cache else {
        return load().await;
    };
    let mut keys = versions;
    keys.push(key);
    let mut found = cache.get(&keys).await;
    let entry = found.pop().flatten();
    let key = keys.pop().unwrap_or_default();
    let Some(stamp) = stamp(&found) else {
        // A version is missing: nothing stored can be trusted, and nothing loaded now could
        // be stored under a version. Create the missing ones for the next reader.
        let missing: Vec<String> = keys
            .into_iter()
            .zip(&found)
            .filter(|(_, value)| value.is_none())
            .map(|(key, _)| key)
            .collect();
        crate::metrics::cache_read(false);
        let loaded = load().await;
        cache.init(&missing).await;
        return loaded;
    };
    if let Some(hit) = entry.and_then(|bytes| decode::<D>(&bytes, &stamp))
        && fits(&hit)
    {
        crate::metrics::cache_read(true);
        return Ok(Some(hit));
    }
    crate::metrics::cache_read(false);
    let loaded = load().await?;
    if let Some(bytes) = loaded.as_ref().and_then(|value| encode(&stamp, value)) {
        cache.put(&key, bytes, ENTRY_TTL).await;
    }
    Ok(loaded)
}

/// After a write committed: changes the versions its `changes` make stale, and drops the
/// entries they replace.
pub async fn retire(cache: &dyn Cache, changes: &[Change]) {
    let mut stale = Vec::new();
    for change in changes {
        match change {
            Change::Account { user, what } => match what {
                AccountChange::Created | AccountChange::SessionOpened(_) => {}
                // Only "last used" changed: dropping the entry lets the next check see the new
                // time (were it kept, every request would record a use until it expired). A
                // reader racing this may store the old time again; that costs one more touch.
                AccountChange::SessionUsed(session) => cache.remove(&session_key(*session)).await,
                // A user's generation rather than the session's entry: a check that read the
                // session as open just before this committed could otherwise store it again.
                AccountChange::Active
                | AccountChange::Updated
                | AccountChange::Deleted
                | AccountChange::SessionsEnded => stale.push(user_gen(*user)),
            },
            Change::Conversation {
                kind: ConversationKind::Direct,
                members,
                what,
                ..
            } => match what {
                // A new conversation has no messages, and read positions are in no entry.
                // (Membership changes happen in groups only.)
                ConversationChange::Created
                | ConversationChange::Read { .. }
                | ConversationChange::MemberAdded { .. }
                | ConversationChange::MemberRemoved { .. }
                | ConversationChange::RoleChanged { .. }
                | ConversationChange::Renamed { .. } => {}
                ConversationChange::MessageCreated { .. }
                | ConversationChange::MessageEdited { .. }
                | ConversationChange::MessageDeleted { .. }
                | ConversationChange::MessageHidden { .. } => {
                    if let (Some(lo), Some(hi)) = (members.iter().min(), members.iter().max()) {
                        stale.push(pair_version(*lo, *hi));
                    }
                }
            },
            // No entry holds anything of a group: the compatibility faces show direct
            // conversations only.
            Change::Conversation {
                kind: ConversationKind::Group,
                ..
            } => {}
        }
    }
    if !stale.is_empty() {
        cache.bump(&stale).await;
    }
}

/// After a write failed in a way that may still have committed (the database went away
/// mid-way): what changed cannot be known, so everything is invalidated.
pub async fn retire_all_if_uncertain(cache: &dyn Cache, err: &StoreError) {
    if matches!(err, StoreError::Unavailable(_) | StoreError::Other(_)) {
        cache.bump(&[EPOCH.to_owned()]).await;
    }
}

/// The stamp of a set of version values, or `None` if any is missing.
fn stamp(versions: &[Option<Vec<u8>>]) -> Option<Vec<u8>> {
    let mut stamp = Vec::with_capacity(versions.len() * 17);
    for version in versions {
        stamp.extend_from_slice(version.as_deref()?);
        stamp.push(b':');
    }
    Some(stamp)
}

/// An entry is its stamp, a newline, then the value as JSON.
fn encode<D: Serialize>(stamp: &[u8], value: &D) -> Option<Vec<u8>> {
    let mut bytes = stamp.to_vec();
    bytes.push(b'\n');
    serde_json::to_writer(&mut bytes, value).ok()?;
    Some(bytes)
}

fn decode<D: DeserializeOwned>(bytes: &[u8], stamp: &[u8]) -> Option<D> {
    let value = bytes.strip_prefix(stamp)?.strip_prefix(b"\n")?;
    serde_json::from_slice(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_decodes_only_under_its_own_stamp() {
        let bytes = encode(b"aa:bb:", &42_i64).unwrap();
        assert_eq!(decode::<i64>(&bytes, b"aa:bb:"), Some(42));
        assert_eq!(decode::<i64>(&bytes, b"aa:bc:"), None);
        assert_eq!(decode::<i64>(&bytes, b"aa:"), None);
    }

    #[test]
    fn a_missing_version_means_no_stamp() {
        assert_eq!(stamp(&[Some(b"a".to_vec()), None]), None);
        assert_eq!(stamp(&[Some(b"a".to_vec())]), Some(b"a:".to_vec()));
    }

    #[test]
    fn a_pair_is_the_same_whoever_asks() {
        assert_eq!(
            pair_version(UserId(2), UserId(1)),
            pair_version(UserId(1), UserId(2))
        );
        assert_eq!(history_versions(UserId(3), UserId(3)).len(), 3);
    }
}
