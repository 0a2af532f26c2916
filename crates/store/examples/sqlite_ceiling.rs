//! The ceiling for sends on SQLite in `bench/run.sh`: the transaction a send runs, on one
//! connection, in a loop, with nothing else around it. On a fresh database file with missive's
//! own migrations and connection settings (WAL, `synchronous` FULL by default, foreign keys
//! on), it seeds 200 users in 200 direct conversations of 25 messages, as the benchmark seeds
//! missive, then for `SECONDS` repeats `BEGIN IMMEDIATE`; take the conversation's next seq
//! (`UPDATE conversations ... RETURNING`); insert the message; append both members' events
//! (bump their stream heads, one events row each); `COMMIT`, cycling over the
//! conversations, and prints transactions per second. Same driver (sqlx) as missive, so the
//! ratio to missive's sends is what missive's HTTP, token check and queueing cost.
//!
//! ```text
//! cargo run --release -p missive-store --example sqlite_ceiling -- /tmp/ceiling.db 10 [full|normal]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

// The statements of `crates/store/src/messages.rs` (a send to a pair), copied: keep in step.
const NEXT_SEQ_BY_PAIR: &str = "UPDATE conversations SET last_seq = last_seq + 1, \
    last_message_at = CASE WHEN $3 > COALESCE(last_message_at, 0) THEN $3 \
    ELSE last_message_at + 1 END WHERE direct_low = $1 AND direct_high = $2 \
    RETURNING id, last_seq, direct_low, direct_high, last_message_at";
const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (conversation_id, seq, sender_id, content, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";

// As `crates/store/src/events.rs` appends a send's events (SQLite needs no row locks).
const BUMP_HEADS: &str = "UPDATE event_heads SET head = head + 1 WHERE user_id IN ($1, $2)";
const APPEND_EVENTS: &str = "INSERT INTO events \
    (user_id, seq, kind, conversation_id, message_id, created_at) \
    SELECT user_id, head, 'message.created', $3, $4, $5 FROM event_heads \
    WHERE user_id IN ($1, $2)";

const USERS: i64 = 200;
const MESSAGES_EACH: i64 = 25;

fn now_micros() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_micros()).unwrap()
}

/// The pair of conversation `i` (0-based): user i+1 and the next user, ordered.
fn pair(i: i64) -> (i64, i64) {
    let (a, b) = (i + 1, (i + 1) % USERS + 1);
    (a.min(b), a.max(b))
}

async fn send(conn: &mut SqliteConnection, (low, high): (i64, i64)) -> sqlx::Result<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let (conversation, seq, _, _, at): (i64, i64, Option<i64>, Option<i64>, i64) =
        sqlx::query_as(NEXT_SEQ_BY_PAIR)
            .bind(low)
            .bind(high)
            .bind(now_micros())
            .fetch_one(&mut *tx)
            .await?;
    let id: i64 = sqlx::query_scalar(INSERT_MESSAGE)
        .bind(conversation)
        .bind(seq)
        .bind(low)
        .bind("hello")
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query(BUMP_HEADS)
        .bind(low)
        .bind(high)
        .execute(&mut *tx)
        .await?;
    sqlx::query(APPEND_EVENTS)
        .bind(low)
        .bind(high)
        .bind(conversation)
        .bind(id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> sqlx::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(seconds)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: sqlite_ceiling DB_PATH SECONDS [full|normal]");
        std::process::exit(2);
    };
    let seconds: u64 = seconds.parse().expect("SECONDS is a number");
    let seconds = seconds.clamp(1, 120);
    let (sync, name) = match args.get(3).map(String::as_str) {
        None | Some("full") => (SqliteSynchronous::Full, "FULL"),
        Some("normal") => (SqliteSynchronous::Normal, "NORMAL"),
        Some(other) => panic!("unknown synchronous setting {other}"),
    };
    assert!(
        !std::path::Path::new(path).exists(),
        "{path} exists: give a fresh file"
    );

    // As missive's `DbPool::connect`.
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(sync)
        .pragma("journal_size_limit", (64 * 1024 * 1024).to_string())
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&mut conn)
        .await
        .expect("migrations apply");

    let now = now_micros();
    for user in 1..=USERS {
        sqlx::query(
            "INSERT INTO users (id, username, email, password_hash, created_at, last_active_at) \
             VALUES ($1, $2, $3, 'not a hash', $4, $4)",
        )
        .bind(user)
        .bind(format!("u{user}"))
        .bind(format!("u{user}@example.com"))
        .bind(now)
        .execute(&mut conn)
        .await?;
        sqlx::query("INSERT INTO event_heads (user_id) VALUES ($1)")
            .bind(user)
            .execute(&mut conn)
            .await?;
    }
    for i in 0..USERS {
        let (low, high) = pair(i);
        let conversation: i64 = sqlx::query_scalar(
            "INSERT INTO conversations (direct_low, direct_high, created_at) \
             VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(low)
        .bind(high)
        .bind(now)
        .fetch_one(&mut conn)
        .await?;
        for member in [low, high] {
            sqlx::query(
                "INSERT INTO conversation_members (conversation_id, user_id, joined_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(conversation)
            .bind(member)
            .bind(now)
            .execute(&mut conn)
            .await?;
        }
        for _ in 0..MESSAGES_EACH {
            send(&mut conn, (low, high)).await?;
        }
    }

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut latencies = Vec::new();
    let mut i = 0;
    while Instant::now() < deadline {
        let began = Instant::now();
        send(&mut conn, pair(i % USERS)).await?;
        latencies.push(began.elapsed());
        i += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |p: usize| latencies[(latencies.len() * p).div_ceil(100).max(1) - 1];
    println!(
        "SQLite send transaction, synchronous={name}, one connection: {} tx in {elapsed:.2} s \
         = {:.0} tx/s; latency ms p50 {:.3} p99 {:.3}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        at(50).as_secs_f64() * 1000.0,
        at(99).as_secs_f64() * 1000.0,
    );
    conn.close().await
}
