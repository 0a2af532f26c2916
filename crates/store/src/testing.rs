//! Fresh databases for tests: a temporary SQLite file always, and a throw-away PostgreSQL
//! schema when `TEST_DATABASE_URL` is set. Each is removed when dropped, even after a panic.

use crate::{Backend, DbPool, PoolSettings, SqlStore};

/// One test's private, migrated database.
pub struct TestDb {
    /// A URL that reaches exactly this database (for tests that start a whole server).
    pub url: String,
    pub pool: DbPool,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteDir(#[allow(dead_code)] tempfile::TempDir),
    PostgresSchema { admin_url: String, schema: String },
}

impl TestDb {
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    pub fn store(&self) -> SqlStore {
        SqlStore::new(self.pool.clone())
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let pool = connect_and_migrate(&url).await;
        Self {
            url,
            pool,
            cleanup: Cleanup::SqliteDir(dir),
        }
    }

    /// A fresh schema in the `TEST_DATABASE_URL` database, or `None` (with a printed notice)
    /// when the variable is unset. Panics when it is set but the server cannot be reached: a
    /// configured backend must be tested, never silently skipped.
    pub async fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            skip_notice();
            return None;
        };
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = DbPool::connect(&admin_url, &PoolSettings::default())
            .await
            .unwrap_or_else(|err| panic!("TEST_DATABASE_URL is set but unreachable: {err}"));
        let DbPool::Postgres(admin_pool) = &admin else {
            panic!("TEST_DATABASE_URL must be a postgres:// URL");
        };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(admin_pool)
            .await
            .expect("create a test schema");
        admin.close().await;
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        // The application name tags this database's connections so clean-up can end them.
        let url = format!(
            "{admin_url}{separator}options[search_path]={schema}&application_name={schema}"
        );
        let pool = connect_and_migrate(&url).await;
        Some(Self {
            url,
            pool,
            cleanup: Cleanup::PostgresSchema { admin_url, schema },
        })
    }

    /// SQLite, plus PostgreSQL when configured: the backends every contract test runs on.
    pub async fn all() -> Vec<Self> {
        let mut dbs = vec![Self::sqlite().await];
        dbs.extend(Self::postgres().await);
        dbs
    }
}

/// Says once per test binary that PostgreSQL is skipped. Written to the stderr handle itself,
/// because the test harness swallows `eprintln!` of passing tests.
fn skip_notice() {
    static NOTICE: std::sync::Once = std::sync::Once::new();
    NOTICE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "notice: TEST_DATABASE_URL is not set; skipping the PostgreSQL runs (SQLite only)"
        );
    });
}

async fn connect_and_migrate(url: &str) -> DbPool {
    let pool = DbPool::connect(url, &PoolSettings::default())
        .await
        .unwrap_or_else(|err| panic!("connect to the test database: {err}"));
    pool.migrate().await.expect("migrate the test database");
    pool
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Cleanup::PostgresSchema { admin_url, schema } = &self.cleanup else {
            return;
        };
        // Drop runs outside any async context we can borrow, so use a short-lived runtime on
        // its own thread. It must not wait on `self.pool`: a pool's connections are returned by
        // tasks on the test's runtime, which this drop blocks (on a current-thread runtime,
        // forever). Instead the server ends this database's sessions, found by the application
        // name they carry, which also releases any lock they hold.
        let (admin_url, owned_schema) = (admin_url.clone(), schema.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build a runtime for test clean-up");
            runtime.block_on(drop_schema(&admin_url, &owned_schema))
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("warning: could not drop test schema {schema}: {err}");
        }
    }
}

async fn drop_schema(admin_url: &str, schema: &str) -> Result<(), crate::StoreError> {
    let admin = DbPool::connect(admin_url, &PoolSettings::default()).await?;
    if let DbPool::Postgres(admin_pool) = &admin {
        let mut conn = admin_pool.acquire().await?;
        // Fail rather than hang if a session somehow keeps its locks.
        sqlx::query("SET lock_timeout = '10s'")
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
        )
        .bind(schema)
        .execute(&mut *conn)
        .await?;
        let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await?;
    }
    admin.close().await;
    Ok(())
}
