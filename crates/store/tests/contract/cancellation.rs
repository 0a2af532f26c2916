//! Callers that go away mid-operation (a client hangs up, a request times out) must leave
//! every pooled connection as they found it: outside any transaction, able to write.

use std::future::Future;
use std::time::{Duration, Instant};

use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{Backend, DbPool, HistoryWindow, PoolSettings, SqlStore};

use crate::{Must, open, post, users};

/// Runs `work` for `delay`, then drops it unfinished.
/// Varying the delay cancels at every stage: acquiring a connection, `BEGIN` in flight, a
/// query in flight, `COMMIT` in flight. (Timers are too coarse for this, so the other branch
/// spins on yields.)
async fn cancel_after(delay: Duration, work: impl Future) {
    let deadline = Instant::now() + delay;
    let until_deadline = async {
        while Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
    };
    tokio::select! {
        biased;
        _ = work => {}
        () = until_deadline => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_operations_leave_no_connection_in_a_transaction() {
    for db in TestDb::all().await {
        // A small pool of its own, so that each connection is soon reused.
        let settings = PoolSettings {
            max_connections: 2,
            ..PoolSettings::default()
        };
        let pool = DbPool::connect(&db.url, &settings).await.must(db.backend());
        let store = SqlStore::new(pool.clone());
        let b = db.backend();
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let conversation = open(&store, &alice, &bob).await.id;
        post(&store, conversation, &alice, "first").await;

        // Snapshot reads (a read-only transaction on PostgreSQL) and writes cancelled after
        // varying delays, each followed by a send that runs to the end and must succeed: a
        // connection left inside the read-only transaction of a cancelled read would fail it.
        for i in 0..300u32 {
            let delay = Duration::from_micros(u64::from(i % 50) * 60);
            if i % 2 == 0 {
                let read = store.direct_history(alice.id, bob.id, 20, 0);
                cancel_after(delay, read).await;
            } else {
                let page =
                    store.conversation_messages(conversation, alice.id, HistoryWindow::Latest, 10);
                cancel_after(delay, page).await;
                let send = store.send_message(conversation, bob.id, "cancelled?", None);
                cancel_after(delay, send).await;
            }
            let sent = store
                .send_message(conversation, alice.id, "after", None)
                .await;
            if let Err(err) = sent {
                panic!("{b:?}: a send after {i} cancellations failed: {err}");
            }
        }

        if b == Backend::Postgres {
            assert_eq!(stuck_in_transaction(&pool).await, 0, "{b:?}");
        }
        pool.close().await;
    }
}

/// This database's server sessions that have sat inside a transaction for over a second
/// (the test's own connections carry its application name).
async fn stuck_in_transaction(pool: &DbPool) -> i64 {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let DbPool::Postgres(pool) = pool else {
        unreachable!("called for PostgreSQL only")
    };
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity \
         WHERE application_name = current_setting('application_name') \
         AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%' \
         AND state_change < now() - interval '1 second'",
    )
    .fetch_one(pool)
    .await
    .expect("read pg_stat_activity")
}
