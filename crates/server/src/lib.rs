//! missive: a self-hostable messaging service.
//!
//! [`build`] connects, migrates and assembles an [`App`]; [`App::serve`] runs it on a listener
//! until the shutdown future completes. Tests bind port 0 and call the same two functions.

pub mod auth;
pub mod cache;
mod client_ip;
pub mod commands;
pub mod config;
pub mod connections;
pub mod core;
pub mod doorbell;
pub mod error;
pub mod extract;
pub mod http;
mod keyfile;
pub mod limits;
pub mod metrics;
pub mod redis_conn;
pub mod secret;
pub mod state;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;

use missive_store::{DbPool, PoolSettings, SqlStore};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Passwords;
use crate::config::{Config, SecretSource};
use crate::core::Core;
use crate::limits::{MemoryLimiter, RateLimiter, RedisLimiter};
use crate::secret::redact_url;
use crate::state::AppState;

pub struct App {
    state: AppState,
    pool: DbPool,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("DATABASE_URL ({url}): {source}")]
    Database {
        url: String,
        source: missive_store::StoreError,
    },
    #[error("password hashing could not start")]
    Passwords,
    #[error("REDIS_URL: {0}")]
    Redis(String),
}

/// Connects to the database and applies its migrations.
pub async fn connect(config: &Config) -> Result<DbPool, StartError> {
    let url = config.database_url.expose();
    let settings = PoolSettings {
        max_connections: config.db_max_connections,
        sqlite_sync: config.sqlite_sync,
        ..PoolSettings::default()
    };
    let failed = |source| StartError::Database {
        url: redact_url(url),
        source,
    };
    let pool = connect_patiently(url, &settings, config.db_connect_timeout)
        .await
        .map_err(failed)?;
    pool.migrate().await.map_err(failed)?;
    Ok(pool)
}

/// For a command that must not create the database (run in the wrong directory, it would
/// work on an empty one): the one-line refusal when `DATABASE_URL` names a SQLite file that
/// does not exist.
pub(crate) fn no_database(config: &Config) -> Option<String> {
    if config.backend != missive_store::Backend::Sqlite {
        return None;
    }
    let file = config::sqlite_file(config.database_url.expose())?;
    (!file.exists()).then(|| {
        format!(
            "no database at {} (DATABASE_URL): run this where the server runs, or give it \
             the server's DATABASE_URL",
            file.display()
        )
    })
}

/// `missive backup PATH`: a consistent copy of the SQLite database at `to` (a new file),
/// made while the server runs. PostgreSQL is backed up with its own tools.
pub async fn backup(config: &Config, to: &std::path::Path) -> Result<u64, String> {
    if config.backend == missive_store::Backend::Postgres {
        return Err("the database is PostgreSQL: back it up with pg_dump \
            (see the README's \"Backups\")"
            .into());
    }
    if to.exists() {
        return Err(format!("{} already exists: name a new file", to.display()));
    }
    let path = to
        .to_str()
        .ok_or_else(|| format!("{}: not a UTF-8 path", to.display()))?;
    // The database as it is: never created (a wrong directory would back up an empty one)
    // nor migrated (a newer binary must not change it under the server that runs it).
    let url = config.database_url.expose();
    if let Some(refusal) = no_database(config) {
        return Err(refusal);
    }
    if config::sqlite_file(url).is_none() {
        return Err("the database is in memory: there is nothing to back up".into());
    }
    let settings = PoolSettings {
        max_connections: 1,
        ..PoolSettings::default()
    };
    let pool = DbPool::connect(url, &settings)
        .await
        .map_err(|err| format!("DATABASE_URL ({}): {err}", redact_url(url)))?;
    let copied = pool.backup_sqlite(path).await;
    pool.close().await;
    if let Err(err) = copied {
        // A partial file would block the retry ("already exists").
        let _ = std::fs::remove_file(to);
        return Err(format!("backup to {}: {err}", to.display()));
    }
    // Password hashes and every message: readable by its owner only, as the key file is.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))
        .map_err(|err| format!("{}: {err}", to.display()))?;
    std::fs::metadata(to)
        .map(|meta| meta.len())
        .map_err(|err| format!("{}: {err}", to.display()))
}

/// Connects, retrying with back-off while the database is unreachable, for up to `patience`:
/// a database still starting (containers start in any order) is waited for, each attempt
/// logged. Errors that retrying cannot fix (a bad URL, a refused password) fail at once.
async fn connect_patiently(
    url: &str,
    settings: &PoolSettings,
    patience: std::time::Duration,
) -> Result<DbPool, missive_store::StoreError> {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + patience;
    let mut delay = Duration::from_millis(250);
    for attempt in 1.. {
        match DbPool::connect(url, settings).await {
            Err(missive_store::StoreError::Unavailable(err))
                if Instant::now() + delay < deadline =>
            {
                tracing::warn!(
                    attempt,
                    retry_in = ?delay,
                    error = %err,
                    database = %redact_url(url),
                    "database not reachable yet"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
    unreachable!("the attempts never run out")
}

/// Everything a running instance needs, ready to serve.
pub async fn build(config: Config) -> Result<App, StartError> {
    let pool = connect(&config).await?;
    App::with_store(config, SqlStore::new(pool)).await
}

/// The one Redis connection of this process (its clones share it), if `REDIS_URL` is set.
fn shared_redis(config: &Config) -> Result<Option<redis_conn::Redis>, StartError> {
    config
        .redis_url
        .as_ref()
        .map(|url| {
            redis_conn::Redis::connect(url.expose(), &config.redis_prefix)
                .map_err(StartError::Redis)
        })
        .transpose()
}

/// The cache when `MISSIVE_CACHE` is on: in Redis (shared by every instance) when
/// `REDIS_URL` is set, else in-process.
fn build_cache(
    config: &Config,
    redis: Option<&redis_conn::Redis>,
) -> Option<Arc<dyn cache::Cache>> {
    if !config.cache {
        tracing::info!("cache: off");
        return None;
    }
    let cache: Arc<dyn cache::Cache> = match redis {
        Some(redis) => Arc::new(cache::RedisCache::new(redis.clone())),
        None => Arc::new(cache::MemoryCache::default()),
    };
    if config.redis_url.is_none() && config.backend == missive_store::Backend::Postgres {
        tracing::warn!(
            "cache: in-process, right for one instance only: with several, set REDIS_URL (or \
             MISSIVE_CACHE=off), or one may answer from a state another has changed"
        );
    } else {
        tracing::info!(ttl = ?cache::ENTRY_TTL, "cache: {}", cache.location());
    }
    Some(cache)
}

impl App {
    /// Assembles an app around a connected, migrated store (tests pass one whose faults
    /// they control).
    pub async fn with_store(config: Config, store: SqlStore) -> Result<Self, StartError> {
        metrics::install();
        let redis = shared_redis(&config)?;
        let passwords = Passwords::new().await.map_err(|_| StartError::Passwords)?;
        log_setup(&config);
        let cache = build_cache(&config, redis.as_ref());
        let doorbell = doorbell::Doorbell::new(redis.clone());
        let limiter = build_limiter(&config, redis);
        let tasks = TaskTracker::new();
        let pool = store.pool().clone();
        let core = Core::new(&config, store, cache, doorbell, passwords, tasks.clone());
        let state = AppState::new(config, core, limiter, tasks);
        Ok(Self { state, pool })
    }

    /// The use cases this app serves, for callers in the same process (tests, commands).
    pub fn core(&self) -> &Core {
        self.state.core()
    }

    /// Serves until `shutdown` completes, then lets the requests in flight finish (for at
    /// most `MISSIVE_SHUTDOWN_GRACE_SECS`) and closes the database pool.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let config = self.state.config();
        let limits = connections::ConnectionLimits {
            max_connections: connections::fit_to_descriptors(
                config.max_connections,
                config.db_max_connections,
            ),
            head_timeout: config.header_timeout,
            shutdown_grace: config.shutdown_grace,
        };
        let tasks = self.state.tasks().clone();
        // Background upkeep has its own tracker: it runs until serving has ended, then stops.
        let background = TaskTracker::new();
        let stop_background = CancellationToken::new();
        background.spawn(
            stop_background
                .clone()
                .run_until_cancelled_owned(housekeeping(self.state.clone())),
        );
        background.spawn(
            self.state
                .core()
                .doorbell()
                .hear_other_instances(stop_background.clone()),
        );
        background.spawn(
            stop_background
                .clone()
                .run_until_cancelled_owned(poll_heads(self.state.clone())),
        );
        background.spawn(
            stop_background
                .clone()
                .run_until_cancelled_owned(metrics::upkeep()),
        );
        let (pool, stop) = (self.pool.clone(), stop_background.clone());
        background.spawn(async move {
            pool.keep_wal_bounded(WAL_CHECKPOINT_INTERVAL, stop.cancelled_owned())
                .await;
        });
        if let Some(address) = config.metrics_bind {
            let metrics_listener = TcpListener::bind(address).await.map_err(|err| {
                std::io::Error::new(
                    err.kind(),
                    format!("MISSIVE_METRICS_BIND ({address}): {err}"),
                )
            })?;
            tracing::info!(address = %address, "metrics on their own address");
            let router = axum::Router::new()
                .route("/metrics", axum::routing::get(metrics::render))
                .with_state(self.state.clone());
            let stop = stop_background.clone();
            background.spawn(async move {
                let served = axum::serve(metrics_listener, router)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(err) = served {
                    tracing::warn!(error = %err, "metrics address stopped serving");
                }
            });
        }
        let router = http::router(self.state.clone());
        // Streams hear of the shutdown as it begins, and end with a frame that tells their
        // clients to resume elsewhere, instead of holding the grace period up; `/readyz`
        // answers 503 from then on, to whoever still asks on an open connection.
        let stopping = self.state.stopping().clone();
        let shutdown = async move {
            shutdown.await;
            stopping.cancel();
        };
        connections::serve(listener, router, limits, shutdown).await;
        // Requests whose connections were closed or dropped may still be finishing their work.
        tasks.close();
        if tokio::time::timeout(WORK_GRACE, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                grace = ?WORK_GRACE,
                "shutdown: request work still running after the grace period is abandoned"
            );
        }
        stop_background.cancel();
        background.close();
        background.wait().await;
        // Closing waits for connections still checked out; a stuck query must not hold the
        // process up for ever.
        if tokio::time::timeout(POOL_CLOSE_GRACE, self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("shutdown: database connections still busy were abandoned");
        }
        Ok(())
    }
}

/// Rate limits shared by every instance through Redis when `REDIS_URL` is set, else kept
/// in-process. An unreachable Redis does not stop start-up: the limiter counts in-process
/// until it answers.
fn build_limiter(config: &Config, redis: Option<redis_conn::Redis>) -> Arc<dyn RateLimiter> {
    let longest_window = config.rate_limits.longest_window();
    match redis {
        Some(redis) => Arc::new(RedisLimiter::new(redis, longest_window)),
        None => Arc::new(MemoryLimiter::new(longest_window)),
    }
}

/// How long shutdown waits, once connections are closed, for the work of requests to finish.
const WORK_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// How long shutdown waits for the database pool's connections to come back.
const POOL_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// How often SQLite's write-ahead log is checkpointed: it grows by at most what this much
/// traffic writes, and is truncated to at most 64 MiB after each checkpoint.
const WAL_CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Once an hour: forgets expired idempotency keys and deletes sessions that ended or expired
/// more than an idle period ago. Both are already ignored when met; this keeps tables small.
async fn housekeeping(state: AppState) {
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every_hour.tick().await;
        match state.core().purge_expired().await {
            Ok((keys, sessions, events)) => {
                tracing::debug!(keys, sessions, events, "purged what is past keeping");
            }
            Err(err) => tracing::warn!(error = %err, "could not purge what is past keeping"),
        }
    }
}

/// Every [`doorbell::POLL_INTERVAL`]: rings for open streams whose head moved unheard.
async fn poll_heads(state: AppState) {
    let mut ticks = tokio::time::interval(doorbell::POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(err) = state.core().poll_heads().await {
            tracing::debug!(error = %err, "could not poll the heads of open streams");
        }
    }
}

fn log_setup(config: &Config) {
    tracing::info!(
        database = %redact_url(config.database_url.expose()),
        backend = ?config.backend,
        "database ready (migrations applied)"
    );
    match &config.redis_url {
        None => tracing::info!("rate limits and events: in-process"),
        Some(url) => tracing::info!(
            redis = %redact_url(url.expose()),
            prefix = %config.redis_prefix,
            "rate limits and live-delivery doorbells: shared through Redis"
        ),
    }
    match &config.secret_source {
        SecretSource::Configured => {}
        SecretSource::KeyFile { path, created } => tracing::warn!(
            key_file = %path.display(),
            generated_now = created,
            "SECRET_KEY is not set: using a generated key kept in the key file; set SECRET_KEY \
             before running more than one instance"
        ),
        SecretSource::Ephemeral => tracing::warn!(
            "SECRET_KEY is not set and the database is in memory: tokens end with the process"
        ),
    }
}
