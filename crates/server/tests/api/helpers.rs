//! The test harness: a running app per backend, and a small client that speaks its JSON.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use missive::config::{Config, CorsOrigins, Secret, SecretSource};
use missive::core::Core;
use missive::{App, build};
use missive_store::SqlStore;
use missive_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct-horse-battery";

pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    /// Shared with any second instance over the same database; dropped after the last.
    pub db: Arc<TestDb>,
    /// The app's use cases, for what no route does (deleting a user), through the same
    /// cache and post-commit point as its requests.
    pub core: Core,
    shutdown: Option<oneshot::Sender<()>>,
}

/// What a test reads back: status, headers and the JSON body (Null when not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `detail` string of an error body.
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
    /// The `field` of every entry in a `/v1` validation error's `errors`.
    pub fn field_names(&self) -> Vec<&str> {
        strings(&self.body["errors"], "field")
    }
    /// The `loc` of every entry in a compatibility face's (FastAPI's) 422 `detail` list,
    /// joined with dots: `["body", "content"]` is `body.content`.
    pub fn locs(&self) -> Vec<String> {
        let entries = self.body["detail"].as_array().map(Vec::as_slice);
        let loc = |entry: &Value| -> String {
            let parts = entry["loc"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let parts = parts.iter().map(|part| match part {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            });
            parts.collect::<Vec<_>>().join(".")
        };
        entries.unwrap_or_default().iter().map(loc).collect()
    }
}

/// Asserts a reply's status, naming the backend and showing the body when it is wrong.
#[track_caller]
pub fn status_is(app: &TestApp, reply: &Reply, status: StatusCode) {
    assert_eq!(reply.status, status, "{}: {}", app.label(), reply.body);
}

/// Asserts an error reply's status and `detail`.
#[track_caller]
pub fn refused(app: &TestApp, reply: &Reply, status: StatusCode, detail: &str) {
    status_is(app, reply, status);
    assert_eq!(reply.detail(), detail, "{}: {}", app.label(), reply.body);
}

/// The keys of a JSON object, sorted.
pub fn keys(body: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = body
        .as_object()
        .map(|object| object.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    keys
}

/// The string `key` of every object in `list`.
pub fn strings<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    items.iter().filter_map(|item| item[key].as_str()).collect()
}

pub fn test_config(db: &TestDb) -> Config {
    Config {
        database_url: Secret::new(db.url.clone()),
        backend: db.backend(),
        secret_key: Secret::new("a-test-secret-that-is-at-least-32-bytes"),
        secret_source: SecretSource::Configured,
        access_token_ttl: Duration::from_secs(1800),
        bind: "127.0.0.1:0".parse().unwrap(),
        metrics_bind: None,
        max_message_chars: 2000,
        max_group_members: 1000,
        max_body_bytes: 65_536,
        cors_origins: CorsOrigins::Any,
        db_max_connections: 8,
        db_connect_timeout: Duration::ZERO,
        request_timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_secs(20),
        max_connections: 10_000,
        header_timeout: Duration::from_secs(10),
        sqlite_sync: missive_store::SqliteSync::Full,
        idempotency_ttl: Duration::from_secs(24 * 3600),
        event_retention: Duration::from_secs(30 * 86_400),
        session_idle: Duration::from_secs(30 * 86_400),
        // Tests register many users from one address; the rate-limit tests turn limits on.
        rate_limits: missive::limits::Rules::off(),
        trusted_proxies: Vec::new(),
        forwarded_header: missive::http::ForwardedHeader::XForwardedFor,
        redis_url: None,
        redis_prefix: "missive".into(),
        cache: true,
    }
}

/// `test_config` with the default rate limits on, counted in the Redis at `redis_url` under
/// `prefix`.
pub fn shared_limits_config(db: &TestDb, redis_url: &str, prefix: &str) -> Config {
    Config {
        rate_limits: missive::limits::Rules::default(),
        redis_url: Some(Secret::new(redis_url)),
        redis_prefix: prefix.to_owned(),
        ..test_config(db)
    }
}

/// `TEST_REDIS_URL`, or `None` with a notice (once per test binary) when it is unset. Panics
/// when it is set but Redis does not answer: a configured backend must be tested, never
/// silently skipped.
pub fn test_redis_url() -> Option<String> {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        static NOTICE: std::sync::Once = std::sync::Once::new();
        NOTICE.call_once(|| {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "notice: TEST_REDIS_URL is not set; skipping the Redis tests"
            );
        });
        return None;
    };
    let answered = redis::Client::open(url.as_str())
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection));
    if let Err(err) = answered {
        panic!("TEST_REDIS_URL is set but unreachable: {err}");
    }
    Some(url)
}

/// A key prefix of its own on the `TEST_REDIS_URL` Redis, so that tests (and runs) never see
/// each other's counts; its keys are deleted when it is dropped.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    /// `None` (with a notice) when `TEST_REDIS_URL` is unset.
    pub fn new() -> Option<Self> {
        Some(Self {
            url: test_redis_url()?,
            prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        })
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(mut connection) = redis::Client::open(self.url.as_str())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        else {
            return;
        };
        let pattern = format!("{}:*", self.prefix);
        let keys: Vec<String> = redis::Commands::scan_match(&mut connection, pattern)
            .map(|keys| keys.filter_map(Result::ok).collect())
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

/// One running app per backend under test.
pub async fn apps() -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in TestDb::all().await {
        apps.push(TestApp::start(db, test_config).await);
    }
    apps
}

impl TestApp {
    /// Starts the app on `db` with the configuration `configure` gives.
    pub async fn start(db: TestDb, configure: impl FnOnce(&TestDb) -> Config) -> Self {
        let app = build(configure(&db)).await.expect("build the app");
        Self::serve(app, Arc::new(db)).await
    }

    /// Starts another instance over `first`'s database (its own pool, port and limiter), as
    /// a second node of a cluster.
    pub async fn start_second(first: &TestApp, configure: impl FnOnce(&TestDb) -> Config) -> Self {
        let app = build(configure(&first.db))
            .await
            .expect("build the second app");
        Self::serve(app, first.db.clone()).await
    }

    /// Starts the app around a given store (a clone of which can inject failures).
    pub async fn start_with_store(db: TestDb, store: SqlStore) -> Self {
        let app = App::with_store(test_config(&db), store)
            .await
            .expect("build the app");
        Self::serve(app, Arc::new(db)).await
    }

    async fn serve(app: App, db: Arc<TestDb>) -> Self {
        init_test_logging();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let core = app.core().clone();
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(app.serve(listener, async move {
            let _ = stop.await;
        }));
        Self {
            address,
            client: reqwest::Client::new(),
            db,
            core,
            shutdown: Some(shutdown),
        }
    }

    pub fn label(&self) -> String {
        format!("{:?}", self.db.backend())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Sends a request with an optional JSON body and bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::read(request.send().await.expect("send the request")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, None, token).await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.call(Method::POST, path, Some(body), token).await
    }

    pub async fn put(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.call(Method::PUT, path, Some(body), token).await
    }

    /// Sends raw bytes as the body with the given content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> Reply {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::read(request.send().await.unwrap()).await
    }

    /// Registers on the chat-service face; returns (user id, access token).
    pub async fn chat_user(&self, username: &str) -> (i64, String) {
        let email = format!("{username}@example.com");
        let created = self
            .post(
                "/register",
                json!({"username": username, "email": email, "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "register {username}: {}",
            created.body
        );
        let id = created.body["id"].as_i64().unwrap();
        let login = self
            .post(
                "/login",
                json!({"username": username, "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(
            login.status,
            StatusCode::OK,
            "login {username}: {}",
            login.body
        );
        (id, login.body["access_token"].as_str().unwrap().to_owned())
    }

    /// Registers on the message-service face; returns the access token.
    pub async fn message_user(&self, email: &str) -> String {
        let reply = self
            .post(
                "/auth/register",
                json!({"email": email, "password": PASSWORD, "full_name": "Test User"}),
                None,
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "register {email}: {}",
            reply.body
        );
        reply.body["access_token"].as_str().unwrap().to_owned()
    }
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Logs stay silent unless `TEST_LOG=1`.
fn init_test_logging() {
    if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
}
