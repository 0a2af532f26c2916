//! SQLite's files: commits are durable by default, and the write-ahead log stays bounded under
//! steady reads and writes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{DbPool, PoolSettings, SqliteSync};

use crate::{Must, open, post, users};

fn wal_file(db: &TestDb) -> PathBuf {
    let path = db.url.trim_start_matches("sqlite://");
    PathBuf::from(format!("{path}-wal"))
}

async fn synchronous(pool: &DbPool) -> i64 {
    let DbPool::Sqlite { reads: pool, .. } = pool else {
        unreachable!("SQLite only")
    };
    sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .expect("read PRAGMA synchronous")
}

#[tokio::test]
async fn commits_wait_for_the_disk_unless_told_otherwise() {
    let db = TestDb::sqlite().await;
    // 2 is FULL: the log is synced before a commit returns, so it survives power loss.
    assert_eq!(synchronous(&db.pool).await, 2);
    let faster = PoolSettings {
        sqlite_sync: SqliteSync::Normal,
        ..PoolSettings::default()
    };
    let pool = DbPool::connect(&db.url, &faster).await.must(db.backend());
    assert_eq!(synchronous(&pool).await, 1);
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_is_truncated_under_steady_reads_and_writes() {
    const MIB: u64 = 1024 * 1024;
    let db = TestDb::sqlite().await;
    let store = Arc::new(db.store());
    let b = db.backend();
    let [alice, bob] = users(&store, ["alice", "bob"]).await;
    let conversation = open(&store, &alice, &bob).await.id;

    // Overlapping readers, never all idle at once: SQLite's own checkpoints then never get
    // to restart the log, and it only grows.
    let reading = Arc::new(AtomicBool::new(true));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (store, reading) = (Arc::clone(&store), Arc::clone(&reading));
            tokio::spawn(async move {
                while reading.load(Ordering::Relaxed) {
                    store.direct_history(alice.id, bob.id, 20, 0).await.must(b);
                }
            })
        })
        .collect();
    let text = "x".repeat(1500);
    for _ in 0..400 {
        post(&store, conversation, &alice, &text).await;
    }
    let grown = wal_size(&db);
    assert!(grown > 2 * MIB, "the load wrote only {grown} bytes of log");

    // With the checkpoints running, reads and writes go on and the log starts afresh.
    let checkpoints = tokio::spawn({
        let pool = db.pool.clone();
        async move {
            pool.keep_wal_bounded(Duration::from_millis(200), std::future::pending())
                .await
        }
    });
    // Long enough for several checkpoints, however fast the machine writes.
    let mut smallest = grown;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        post(&store, conversation, &bob, &text).await;
        smallest = smallest.min(wal_size(&db));
    }
    reading.store(false, Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("a reader failed");
    }
    checkpoints.abort();
    assert!(
        smallest < MIB,
        "the log stayed at {smallest} bytes or more under steady traffic (it had reached {grown})"
    );
}

fn wal_size(db: &TestDb) -> u64 {
    std::fs::metadata(wal_file(db)).map_or(0, |m| m.len())
}
