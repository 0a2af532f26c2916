//! Connecting to either backend, applying its migrations, and dispatching one piece of query
//! code to whichever pool is in use.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, PgPool, Pool, SqlitePool, Transaction};

use crate::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names, or `None` for a scheme we do not serve.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next()?.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            _ => None,
        }
    }
}

/// Pool sizing, how long a request may wait for a connection before the store reports
/// `Unavailable` (so a dead database turns into quick 503s rather than hung requests), and
/// SQLite's durability and write-ahead-log upkeep.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub sqlite_sync: SqliteSync,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            sqlite_sync: SqliteSync::Full,
        }
    }
}

/// When SQLite reports a commit done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqliteSync {
    /// After the write-ahead log is synced to disk: a commit survives power loss and an OS
    /// crash (as PostgreSQL's default does).
    Full,
    /// Before that sync: faster, and safe against the process crashing, but the last commits
    /// may be lost on power loss or an OS crash.
    Normal,
}

/// How long a SQLite statement waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest the write-ahead log file is left at after a checkpoint resets it.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

#[derive(Clone, Debug)]
pub enum DbPool {
    Postgres(PgPool),
    /// SQLite lets one connection write at a time. Readers share `reads`; every write goes
    /// through `writer`, a pool of one connection, so writers wait their turn in order, in
    /// process, instead of retrying against the file lock in SQLite's busy handler (which
    /// sleeps in growing steps and gave sends under load a tail of hundreds of milliseconds).
    Sqlite {
        reads: SqlitePool,
        writer: SqlitePool,
    },
}

/// Runs `$body` with `$p` bound to the store's concrete pool for reads. The body is written
/// once and compiled for each backend, which is how every query in this crate is shared by
/// both. Every store call starts here or in [`on_writer`], which is also where tests inject
/// faults (`SqlStore::faults`, with the `testing` feature).
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {{
        let store: &$crate::SqlStore = $store;
        store.fault_point().await?;
        let _timed = $crate::pool::Timed::start("read");
        match &store.pool {
            $crate::pool::DbPool::Postgres($p) => $body,
            $crate::pool::DbPool::Sqlite { reads: $p, .. } => $body,
        }
    }};
}
pub(crate) use on_pool;

/// As [`on_pool`], for a body that writes: on SQLite, `$p` is the one writer connection.
macro_rules! on_writer {
    ($store:expr, $p:ident => $body:expr) => {{
        let store: &$crate::SqlStore = $store;
        store.fault_point().await?;
        let _timed = $crate::pool::Timed::start("write");
        match &store.pool {
            $crate::pool::DbPool::Postgres($p) => $body,
            $crate::pool::DbPool::Sqlite { writer: $p, .. } => $body,
        }
    }};
}
pub(crate) use on_writer;

/// Times one store operation (its statements, and the wait for a connection) into
/// `missive_db_query_duration_seconds`, however it ends: dropped on an early return or an
/// error as much as on success, and on cancellation too.
pub(crate) struct Timed {
    started: std::time::Instant,
    access: &'static str,
}

impl Timed {
    pub(crate) fn start(access: &'static str) -> Self {
        Self {
            started: std::time::Instant::now(),
            access,
        }
    }
}

impl Drop for Timed {
    fn drop(&mut self) {
        let seconds = self.started.elapsed().as_secs_f64();
        metrics::histogram!("missive_db_query_duration_seconds", "access" => self.access)
            .record(seconds);
    }
}

impl DbPool {
    /// Connects (failing now if the database is unreachable) without running migrations.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        match Backend::from_url(url) {
            Some(Backend::Sqlite) => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(match settings.sqlite_sync {
                        SqliteSync::Full => SqliteSynchronous::Full,
                        SqliteSync::Normal => SqliteSynchronous::Normal,
                    })
                    .pragma("journal_size_limit", WAL_SIZE_LIMIT_BYTES.to_string())
                    .foreign_keys(true)
                    .busy_timeout(BUSY_TIMEOUT);
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(options.clone())
                    .await?;
                // Readers cannot write at all: a write sent to them by mistake fails loudly
                // rather than contending with the writer.
                let reads = SqlitePoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(options.pragma("query_only", "ON"))
                    .await?;
                Ok(Self::Sqlite { reads, writer })
            }
            Some(Backend::Postgres) => {
                let options = PgConnectOptions::from_str(url)?;
                // One direct connection first: when the server is unreachable, this reports
                // why ("connection refused", "password authentication failed"), where the
                // pool would only say that it timed out.
                let probe = tokio::time::timeout(
                    settings.acquire_timeout,
                    sqlx::PgConnection::connect_with(&options),
                )
                .await
                .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolTimedOut))??;
                probe.close().await?;
                let pool = PgPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(settings.acquire_timeout)
                    .connect_with(options)
                    .await?;
                Ok(Self::Postgres(pool))
            }
            None => Err(StoreError::Other(sqlx::Error::Configuration(
                "unsupported database URL scheme (expected sqlite:, postgres: or postgresql:)"
                    .into(),
            ))),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Applies the backend's embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let result = match self {
            Self::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
            Self::Sqlite { writer, .. } => sqlx::migrate!("./migrations/sqlite").run(writer).await,
        };
        result.map_err(|err| match err {
            sqlx::migrate::MigrateError::Execute(err) => StoreError::from(err),
            other => StoreError::Other(sqlx::Error::Migrate(Box::new(other))),
        })
    }

    /// Runs until the pool closes: on SQLite, checkpoints the
    /// write-ahead log every `interval` so that it stays bounded under steady traffic; on
    /// PostgreSQL, which manages its own log, returns at once.
    /// Stops when `stop` completes, never in the middle of a checkpoint.
    pub async fn keep_wal_bounded(&self, interval: Duration, stop: impl Future<Output = ()>) {
        if let Self::Sqlite { writer, .. } = self {
            checkpoint_every(writer, interval, stop).await;
        }
    }

    /// Writes a consistent copy of a SQLite database to `path`, which must not exist yet,
    /// while others go on reading and writing it (`VACUUM INTO` copies one snapshot, compacted).
    /// `false` on PostgreSQL, whose own tools do this (`pg_dump`).
    pub async fn backup_sqlite(&self, path: &str) -> Result<bool, StoreError> {
        match self {
            Self::Postgres(_) => Ok(false),
            Self::Sqlite { writer, .. } => {
                sqlx::query("VACUUM INTO $1")
                    .bind(path)
                    .execute(writer)
                    .await?;
                Ok(true)
            }
        }
    }

    /// Connections open, and of those idle, across the pool (SQLite: readers and writer).
    pub fn usage(&self) -> (u32, usize) {
        match self {
            Self::Postgres(pool) => (pool.size(), pool.num_idle()),
            Self::Sqlite { reads, writer } => (
                reads.size() + writer.size(),
                reads.num_idle() + writer.num_idle(),
            ),
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite { reads, writer } => {
                writer.close().await;
                reads.close().await;
            }
        }
    }
}

/// Checkpoints SQLite's write-ahead log every `interval` until the pool closes, truncating
/// the file (see [`DbPool::keep_wal_bounded`]). SQLite's automatic checkpoints can copy the
/// log into the database but never restart it while some reader still uses it, and under steady traffic one always does: the
/// log then grows without bound (hundreds of megabytes a minute). A `TRUNCATE` checkpoint
/// waits (up to the busy timeout) for the readers of older snapshots to finish, then starts
/// the log afresh; readers that begin meanwhile read the database file and do not hold it up.
async fn checkpoint_every(pool: &SqlitePool, interval: Duration, stop: impl Future<Output = ()>) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    tokio::pin!(stop);
    while !pool.is_closed() {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {}
        }
        let checkpoint = checkpoint_once(pool).await;
        match checkpoint {
            // The first column is 1 when readers or writers kept it from completing; the
            // next tick tries again.
            Ok((0, _, _)) => {}
            Ok(_) => tracing::debug!("WAL checkpoint could not finish; retrying"),
            Err(_) if pool.is_closed() => {}
            Err(err) => tracing::warn!(error = %err, "WAL checkpoint failed"),
        }
    }
}

/// One `TRUNCATE` checkpoint, on the writer connection (writers queue behind it). It waits for
/// readers only briefly and leaves the rest to the next try; the connection gets its usual
/// busy timeout back afterwards.
async fn checkpoint_once(pool: &SqlitePool) -> Result<(i64, i64, i64), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    sqlx::query("PRAGMA busy_timeout = 100")
        .execute(&mut *conn)
        .await?;
    let checkpoint = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut *conn)
        .await;
    let restore = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
    let restored = sqlx::query(sqlx::AssertSqlSafe(restore))
        .execute(&mut *conn)
        .await;
    if restored.is_err() {
        // Never hand a connection with the short timeout to a writer.
        conn.close_on_drop();
    }
    checkpoint
}

/// Starting transactions that a cancelled caller cannot leave half-begun.
///
/// sqlx 0.9.0 counts a PostgreSQL transaction as open only once `BEGIN` has been answered: if
/// the caller's future is dropped while `BEGIN` is in flight (a client hangs up, a timeout
/// fires), the server is left inside a transaction that sqlx does not know about, and the pool
/// hands that connection to the next caller, whose writes then fail (sqlx issues 4393/4385).
/// So `BEGIN` runs on a task of its own, which always completes: a caller that goes away drops
/// a fully begun transaction, which sqlx rolls back before the connection is used again.
pub(crate) trait Begin {
    type Db: sqlx::Database;

    /// Begins with `statement` (`BEGIN`, or a variant such as a read-only snapshot).
    async fn begin_detached(
        &self,
        statement: &'static str,
    ) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;

    /// Begins a transaction that will write. SQLite takes the write lock up front (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads first and writes later fails with BUSY
    /// when another writer got in between, whereas an immediate one simply waits its turn.
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;

    /// Begins a read-only transaction that sees one snapshot throughout (PostgreSQL's default
    /// gives each statement its own; in SQLite's WAL mode a transaction keeps the snapshot of
    /// its first read).
    async fn begin_snapshot(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl<DB: sqlx::Database + BeginStatements> Begin for Pool<DB> {
    type Db = DB;

    async fn begin_detached(
        &self,
        statement: &'static str,
    ) -> Result<Transaction<'static, DB>, sqlx::Error> {
        let pool = self.clone();
        tokio::spawn(async move { pool.begin_with(statement).await })
            .await
            .map_err(|err| sqlx::Error::Io(std::io::Error::other(err)))?
    }

    async fn begin_write(&self) -> Result<Transaction<'static, DB>, sqlx::Error> {
        self.begin_detached(DB::BEGIN_WRITE).await
    }

    async fn begin_snapshot(&self) -> Result<Transaction<'static, DB>, sqlx::Error> {
        self.begin_detached(DB::BEGIN_SNAPSHOT).await
    }
}

/// The statements that start each kind of transaction on each backend.
pub(crate) trait BeginStatements {
    const BEGIN_WRITE: &'static str;
    const BEGIN_SNAPSHOT: &'static str;
}

impl BeginStatements for sqlx::Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
}

impl BeginStatements for sqlx::Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
}
