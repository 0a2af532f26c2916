//! Settings, in layers: built-in defaults, then the environment (a `.env` file in the working
//! directory is loaded into it first), then command-line flags.
//!
//! Names the seed services already use stay unprefixed (`DATABASE_URL`, `SECRET_KEY`, ...);
//! everything new is `MISSIVE_*`. Every bad value stops start-up with one line naming the
//! setting. Secrets never appear in `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use ipnet::IpNet;
use missive_store::{Backend, SqliteSync};

pub use crate::client_ip::ForwardedHeader;
use crate::limits::Rules;
pub use crate::secret::Secret;
use crate::secret::redact_url;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://missive.db";
const MIN_SECRET_BYTES: usize = 32;

/// The settings as given on the command line or in the environment.
#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// Database: sqlite://PATH (default sqlite://missive.db) or postgres://USER:PASS@HOST/DB.
    /// When unset, POSTGRES_USER/PASSWORD/HOST/PORT/DB or DB_USER/PASSWORD/HOST/PORT/NAME are
    /// used if present.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<Secret>,

    /// Redis for rate limits and cache shared by every instance: redis://HOST:PORT/DB. Without
    /// it, both are kept in-process (right for a single instance).
    #[arg(
        long,
        env = "REDIS_URL",
        value_name = "REDIS_URL",
        hide_env_values = true,
        global = true
    )]
    pub redis_url: Option<Secret>,

    /// The prefix of every Redis key, so deployments can share one Redis.
    #[arg(
        long,
        env = "MISSIVE_REDIS_PREFIX",
        value_name = "MISSIVE_REDIS_PREFIX",
        default_value = "missive",
        global = true
    )]
    pub redis_prefix: String,

    /// Cache the hot reads (the token check, conversation pages): `on` or `off`.
    #[arg(
        long,
        env = "MISSIVE_CACHE",
        value_name = "MISSIVE_CACHE",
        default_value = "on",
        global = true
    )]
    pub cache: Switch,

    /// HMAC key for access tokens, at least 32 bytes. Required with PostgreSQL; with SQLite a
    /// key is generated once and kept beside the database file.
    #[arg(
        long,
        env = "SECRET_KEY",
        value_name = "SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_key: Option<Secret>,

    /// Access-token lifetime in minutes (also read from ACCESS_TOKEN_EXP_MINUTES).
    #[arg(long, env = "ACCESS_TOKEN_EXPIRE_MINUTES", value_name = "ACCESS_TOKEN_EXPIRE_MINUTES",
          value_parser = clap::value_parser!(u32).range(1..=525_600), global = true)]
    pub access_token_expire_minutes: Option<u32>,

    /// The chat service's name for the same setting.
    #[arg(long, env = "ACCESS_TOKEN_EXP_MINUTES", value_name = "ACCESS_TOKEN_EXP_MINUTES",
          value_parser = clap::value_parser!(u32).range(1..=525_600), hide = true, global = true)]
    pub access_token_exp_minutes: Option<u32>,

    /// Address to listen on.
    #[arg(
        long,
        env = "MISSIVE_BIND",
        value_name = "MISSIVE_BIND",
        default_value = "127.0.0.1:8000",
        global = true
    )]
    pub bind: SocketAddr,

    /// Log format.
    #[arg(
        long,
        env = "MISSIVE_LOG_FORMAT",
        value_name = "MISSIVE_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Log filter, in tracing's env-filter syntax.
    #[arg(
        long,
        env = "MISSIVE_LOG",
        value_name = "MISSIVE_LOG",
        default_value = "info,sqlx=warn",
        global = true
    )]
    pub log: String,

    /// Longest message, in characters (not bytes).
    #[arg(long, env = "MISSIVE_MAX_MESSAGE_CHARS", value_name = "MISSIVE_MAX_MESSAGE_CHARS",
          default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000), global = true)]
    pub max_message_chars: u32,

    /// Most members a group may have (its owner included). At most 10,000: every send into a
    /// group appends an event per member in its transaction.
    #[arg(long, env = "MISSIVE_MAX_GROUP_MEMBERS", value_name = "MISSIVE_MAX_GROUP_MEMBERS",
          default_value_t = 1000, value_parser = clap::value_parser!(u32).range(2..=10_000), global = true)]
    pub max_group_members: u32,

    /// Where to serve `GET /metrics` instead of the main address (e.g. `127.0.0.1:9100`, so
    /// that metrics need not be public). Unset: on the main address.
    #[arg(
        long,
        env = "MISSIVE_METRICS_BIND",
        value_name = "MISSIVE_METRICS_BIND",
        global = true
    )]
    pub metrics_bind: Option<SocketAddr>,

    /// Largest request body, in bytes.
    #[arg(long, env = "MISSIVE_MAX_BODY_BYTES", value_name = "MISSIVE_MAX_BODY_BYTES",
          default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1024..=16_777_216), global = true)]
    pub max_body_bytes: u32,

    /// Origins allowed by CORS, comma-separated, or `*` for any (the default: safe because
    /// authentication is a bearer header, never a cookie).
    #[arg(
        long,
        env = "MISSIVE_CORS_ORIGINS",
        value_name = "MISSIVE_CORS_ORIGINS",
        default_value = "*",
        global = true
    )]
    pub cors_origins: String,

    /// Most database connections this instance opens.
    #[arg(long, env = "MISSIVE_DB_MAX_CONNECTIONS", value_name = "MISSIVE_DB_MAX_CONNECTIONS",
          default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub db_max_connections: u32,

    /// How long a send's Idempotency-Key is remembered, in hours.
    #[arg(long, env = "MISSIVE_IDEMPOTENCY_TTL_HOURS", value_name = "MISSIVE_IDEMPOTENCY_TTL_HOURS",
          default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=8760), global = true)]
    pub idempotency_ttl_hours: u32,

    /// Days live-delivery events are kept; a stream resuming from an older cursor is told
    /// to reset.
    #[arg(long, env = "MISSIVE_EVENT_RETENTION_DAYS", value_name = "MISSIVE_EVENT_RETENTION_DAYS",
          default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650), global = true)]
    pub event_retention_days: u32,

    /// Days a /v1 session stays open without a refresh (each refresh starts the period anew).
    #[arg(long, env = "MISSIVE_SESSION_IDLE_DAYS", value_name = "MISSIVE_SESSION_IDLE_DAYS",
          default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650), global = true)]
    pub session_idle_days: u32,

    /// Rate limits: `off`, or overrides like `face2.send=100/min,face1.send=off,face2.register=on`
    /// (`on` turns on a rule that is off by default; see the
    /// README for every rule and its default).
    #[arg(
        long,
        env = "MISSIVE_RATE_LIMITS",
        value_name = "MISSIVE_RATE_LIMITS",
        global = true
    )]
    pub rate_limits: Option<String>,

    /// Proxies whose X-Forwarded-For / Forwarded headers are believed: addresses or CIDR
    /// networks, comma-separated. None by default: the socket's peer is the client.
    #[arg(
        long,
        env = "MISSIVE_TRUSTED_PROXIES",
        value_name = "MISSIVE_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    pub trusted_proxies: String,

    /// The header the trusted proxies append the client's address to.
    #[arg(
        long,
        env = "MISSIVE_FORWARDED_HEADER",
        value_name = "MISSIVE_FORWARDED_HEADER",
        default_value = "x-forwarded-for",
        global = true
    )]
    pub forwarded_header: ForwardedHeader,

    /// Longest time a request may take before it is answered 503.
    #[arg(long, env = "MISSIVE_REQUEST_TIMEOUT_SECS", value_name = "MISSIVE_REQUEST_TIMEOUT_SECS",
          default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3600), global = true)]
    pub request_timeout_secs: u32,

    /// On SIGTERM or Ctrl-C, how long requests in flight may take to finish before their
    /// connections are closed.
    #[arg(long, env = "MISSIVE_SHUTDOWN_GRACE_SECS", value_name = "MISSIVE_SHUTDOWN_GRACE_SECS",
          default_value_t = 20, value_parser = clap::value_parser!(u32).range(0..=3600), global = true)]
    pub shutdown_grace_secs: u32,

    /// Most client connections open at once; further ones wait to be accepted. Lowered at
    /// start-up if the open-file limit cannot hold this many.
    #[arg(long, env = "MISSIVE_MAX_CONNECTIONS", value_name = "MISSIVE_MAX_CONNECTIONS",
          default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub max_connections: u32,

    /// Seconds a connection has to send a request's complete headers, from when it opens or
    /// its previous response ends; so also how long a keep-alive connection may sit idle.
    #[arg(long, env = "MISSIVE_HEADER_TIMEOUT_SECS", value_name = "MISSIVE_HEADER_TIMEOUT_SECS",
          default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600), global = true)]
    pub header_timeout_secs: u32,

    /// Seconds start-up keeps retrying a database that cannot be reached yet (containers
    /// start in any order); 0 fails at once.
    #[arg(long, env = "MISSIVE_DB_CONNECT_TIMEOUT_SECS", value_name = "MISSIVE_DB_CONNECT_TIMEOUT_SECS",
          default_value_t = 60, value_parser = clap::value_parser!(u32).range(0..=3600), global = true)]
    pub db_connect_timeout_secs: u32,

    /// SQLite only: `full` (a sent message survives power loss) or `normal` (faster; the last
    /// commits may be lost on power loss or an OS crash, never on a process crash).
    #[arg(
        long,
        env = "MISSIVE_SQLITE_SYNCHRONOUS",
        value_name = "MISSIVE_SQLITE_SYNCHRONOUS",
        default_value = "full",
        global = true
    )]
    pub sqlite_synchronous: SqliteSynchronous,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where CORS lets browsers call from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<axum::http::HeaderValue>),
}

/// Where the token key came from, for the start-up log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Configured,
    /// Generated now, or read back from the file an earlier start generated.
    KeyFile {
        path: PathBuf,
        created: bool,
    },
    /// An in-memory database: the key lives as long as the process.
    Ephemeral,
}

/// Validated configuration: everything `build` needs, nothing left to parse.
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: Secret,
    pub backend: Backend,
    pub secret_key: Secret,
    pub secret_source: SecretSource,
    pub access_token_ttl: Duration,
    pub bind: SocketAddr,
    /// `None`: `/metrics` is served on `bind`.
    pub metrics_bind: Option<SocketAddr>,
    pub max_message_chars: usize,
    pub max_group_members: usize,
    pub max_body_bytes: usize,
    pub cors_origins: CorsOrigins,
    pub db_max_connections: u32,
    pub db_connect_timeout: Duration,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub sqlite_sync: SqliteSync,
    pub idempotency_ttl: Duration,
    pub event_retention: Duration,
    pub session_idle: Duration,
    pub rate_limits: Rules,
    pub trusted_proxies: Vec<IpNet>,
    pub forwarded_header: ForwardedHeader,
    /// `None`: limits and cache are in-process.
    pub redis_url: Option<Secret>,
    pub redis_prefix: String,
    pub cache: bool,
}

/// A setting that cannot be used, with its name, for the one-line start-up error.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(setting: &'static str, problem: impl Into<String>) -> Self {
        Self {
            setting,
            problem: problem.into(),
        }
    }
}

impl Settings {
    /// Checks every value and resolves defaults that need the filesystem (the SQLite key file).
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        self.resolve_with(KeyFile::Create)
    }

    /// As [`Self::resolve`], for commands that issue no tokens (`backup`, `user`, `session`):
    /// a key file beside the database is read if it is there, never created (run in the wrong
    /// directory, such a command must leave nothing behind).
    pub fn resolve_for_command(&self) -> Result<Config, ConfigError> {
        self.resolve_with(KeyFile::ReadOnly)
    }

    fn resolve_with(&self, key_file: KeyFile) -> Result<Config, ConfigError> {
        let database_url = match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => split_database_url(&|name| std::env::var(name).ok())?
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
        };
        let backend = Backend::from_url(&database_url).ok_or_else(|| {
            ConfigError::new(
                "DATABASE_URL",
                format!(
                    "unsupported scheme in {}; use sqlite://, postgres:// or postgresql://",
                    redact_url(&database_url)
                ),
            )
        })?;
        let (secret_key, secret_source) = self.resolve_secret(backend, &database_url, key_file)?;
        let minutes = self
            .access_token_expire_minutes
            .or(self.access_token_exp_minutes)
            .unwrap_or(30);
        Ok(Config {
            database_url: Secret::new(database_url),
            backend,
            secret_key,
            secret_source,
            access_token_ttl: Duration::from_secs(u64::from(minutes) * 60),
            bind: self.bind,
            metrics_bind: self.metrics_bind,
            max_message_chars: self.max_message_chars as usize,
            max_group_members: self.max_group_members as usize,
            max_body_bytes: self.max_body_bytes as usize,
            cors_origins: parse_cors_origins(&self.cors_origins)?,
            db_max_connections: self.db_max_connections,
            db_connect_timeout: Duration::from_secs(u64::from(self.db_connect_timeout_secs)),
            request_timeout: Duration::from_secs(u64::from(self.request_timeout_secs)),
            shutdown_grace: Duration::from_secs(u64::from(self.shutdown_grace_secs)),
            max_connections: self.max_connections as usize,
            header_timeout: Duration::from_secs(u64::from(self.header_timeout_secs)),
            sqlite_sync: match self.sqlite_synchronous {
                SqliteSynchronous::Full => SqliteSync::Full,
                SqliteSynchronous::Normal => SqliteSync::Normal,
            },
            idempotency_ttl: Duration::from_secs(u64::from(self.idempotency_ttl_hours) * 3600),
            event_retention: Duration::from_secs(u64::from(self.event_retention_days) * 86_400),
            session_idle: Duration::from_secs(u64::from(self.session_idle_days) * 86_400),
            rate_limits: match &self.rate_limits {
                Some(spec) => Rules::parse(spec)
                    .map_err(|problem| ConfigError::new("MISSIVE_RATE_LIMITS", problem))?,
                None => Rules::default(),
            },
            trusted_proxies: crate::client_ip::parse_trusted(&self.trusted_proxies)
                .map_err(|problem| ConfigError::new("MISSIVE_TRUSTED_PROXIES", problem))?,
            forwarded_header: self.forwarded_header,
            redis_url: match &self.redis_url {
                Some(url)
                    if !url.expose().starts_with("redis://")
                        && !url.expose().starts_with("rediss://") =>
                {
                    return Err(ConfigError::new(
                        "REDIS_URL",
                        format!(
                            "{} must start with redis:// or rediss://",
                            redact_url(url.expose())
                        ),
                    ));
                }
                url => url.clone(),
            },
            redis_prefix: self.redis_prefix.clone(),
            cache: self.cache == Switch::On,
        })
    }

    fn resolve_secret(
        &self,
        backend: Backend,
        database_url: &str,
        key_file: KeyFile,
    ) -> Result<(Secret, SecretSource), ConfigError> {
        if let Some(secret) = &self.secret_key {
            if secret.expose().len() < MIN_SECRET_BYTES {
                return Err(ConfigError::new(
                    "SECRET_KEY",
                    format!("must be at least {MIN_SECRET_BYTES} bytes long"),
                ));
            }
            return Ok((secret.clone(), SecretSource::Configured));
        }
        match (backend, sqlite_file(database_url)) {
            // A command issues no tokens: any key will do.
            (Backend::Postgres, _) if key_file == KeyFile::ReadOnly => {
                Ok((random_secret(), SecretSource::Ephemeral))
            }
            (Backend::Postgres, _) => Err(ConfigError::new(
                "SECRET_KEY",
                "must be set when DATABASE_URL is PostgreSQL (every instance needs the same key)",
            )),
            (Backend::Sqlite, None) => Ok((random_secret(), SecretSource::Ephemeral)),
            (Backend::Sqlite, Some(db_file))
                if key_file == KeyFile::ReadOnly && !key_file_beside(&db_file).exists() =>
            {
                Ok((random_secret(), SecretSource::Ephemeral))
            }
            (Backend::Sqlite, Some(db_file)) => {
                let path = key_file_beside(&db_file);
                let (secret, created) = crate::keyfile::load_or_create(&path, random_secret)
                    .map_err(|err| {
                        ConfigError::new(
                            "SECRET_KEY",
                            format!("not set, and the key file {} failed: {err}", path.display()),
                        )
                    })?;
                Ok((secret, SecretSource::KeyFile { path, created }))
            }
        }
    }
}

/// Whether resolving the settings may create the key file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyFile {
    Create,
    ReadOnly,
}

fn random_secret() -> Secret {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    Secret::new(hex::encode(bytes))
}

/// The database file a SQLite URL names, or `None` for an in-memory database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.split_once(':')?.1.trim_start_matches("//");
    let path = rest.split('?').next().unwrap_or_default();
    let in_memory = path.is_empty() || path == ":memory:" || url.contains("mode=memory");
    (!in_memory).then(|| PathBuf::from(path))
}

fn key_file_beside(db_file: &Path) -> PathBuf {
    let mut name = db_file.file_name().unwrap_or_default().to_os_string();
    name.push(".secret");
    db_file.with_file_name(name)
}

/// Builds a PostgreSQL URL from the seeds' split variables, `POSTGRES_*` first, then `DB_*`.
fn split_database_url(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    for prefix in ["POSTGRES", "DB"] {
        let get = |suffix: &str| var(&format!("{prefix}_{suffix}")).filter(|v| !v.is_empty());
        let name_var = if prefix == "POSTGRES" { "DB" } else { "NAME" };
        let (Some(host), Some(name)) = (get("HOST"), get(name_var)) else {
            continue;
        };
        let setting = if prefix == "POSTGRES" {
            "POSTGRES_HOST"
        } else {
            "DB_HOST"
        };
        let port = get("PORT").unwrap_or_else(|| "5432".to_owned());
        let mut url = url::Url::parse(&format!("postgres://{host}:{port}"))
            .map_err(|err| ConfigError::new(setting, format!("host or port is invalid: {err}")))?;
        url.set_path(&name);
        let user = get("USER").unwrap_or_else(|| "postgres".to_owned());
        url.set_username(&user)
            .and_then(|()| url.set_password(get("PASSWORD").as_deref()))
            .map_err(|()| ConfigError::new(setting, "cannot build a database URL"))?;
        return Ok(Some(url.to_string()));
    }
    Ok(None)
}

fn parse_cors_origins(raw: &str) -> Result<CorsOrigins, ConfigError> {
    let raw = raw.trim();
    if raw == "*" {
        return Ok(CorsOrigins::Any);
    }
    let origins = raw
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let valid = url::Url::parse(origin)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            valid
                .then(|| axum::http::HeaderValue::from_str(origin).ok())
                .flatten()
                .ok_or_else(|| {
                    ConfigError::new(
                        "MISSIVE_CORS_ORIGINS",
                        format!("`{origin}` is not an origin like https://app.example.com"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if origins.is_empty() {
        return Err(ConfigError::new(
            "MISSIVE_CORS_ORIGINS",
            "is empty; use * for any origin",
        ));
    }
    Ok(CorsOrigins::List(origins))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn split_postgres_variables_build_an_encoded_url() {
        let env = vars(&[
            ("POSTGRES_HOST", "db.local"),
            ("POSTGRES_DB", "chat"),
            ("POSTGRES_USER", "app"),
            ("POSTGRES_PASSWORD", "p@ss word"),
        ]);
        let url = split_database_url(&env).unwrap().unwrap();
        assert_eq!(url, "postgres://app:p%40ss%20word@db.local:5432/chat");
    }

    #[test]
    fn chat_service_db_variables_are_read_when_postgres_ones_are_absent() {
        let env = vars(&[
            ("DB_HOST", "h"),
            ("DB_PORT", "6543"),
            ("DB_NAME", "chat_service"),
        ]);
        let url = split_database_url(&env).unwrap().unwrap();
        assert_eq!(url, "postgres://postgres@h:6543/chat_service");
    }

    #[test]
    fn no_split_variables_means_no_url() {
        assert_eq!(split_database_url(&vars(&[])).unwrap(), None);
    }

    #[test]
    fn redaction_hides_the_password_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert!(!redact_url("not a url u:secret@h").contains("secret"));
    }

    #[test]
    fn cors_origins_are_checked() {
        assert_eq!(parse_cors_origins("*").unwrap(), CorsOrigins::Any);
        assert!(matches!(
            parse_cors_origins("https://a.example, http://localhost:3000").unwrap(),
            CorsOrigins::List(list) if list.len() == 2
        ));
        assert!(parse_cors_origins("not-an-origin").is_err());
    }

    #[test]
    fn sqlite_key_file_sits_beside_the_database() {
        assert_eq!(
            sqlite_file("sqlite://data/missive.db?mode=rwc").map(|p| key_file_beside(&p)),
            Some(PathBuf::from("data/missive.db.secret"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn settings_debug_shows_no_password_or_key() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            settings: Settings,
        }
        let cli = <Cli as clap::Parser>::try_parse_from([
            "missive",
            "--database-url=postgres://u:hunter2@h/db",
            "--redis-url=redis://:hunter3@h",
            "--secret-key=an-hmac-key-that-is-long-enough-0123456789",
        ])
        .unwrap();
        let shown = format!("{:?}", cli.settings);
        for secret in ["hunter2", "hunter3", "an-hmac-key"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
