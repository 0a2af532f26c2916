//! What every route shares: health and readiness, behaviour when the database goes away or a
//! handler panics, request ids, CORS and the API docs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use async_trait::async_trait;
use missive_store::testing::TestDb;
use missive_store::{
    AccountChanges, Conversation, ConversationId, ConversationSummary, HistoryWindow, Idempotency,
    MemberConversation, Message, MessageId, MessageWindow, NewUser, Page, ReadState,
    RefreshOutcome, SendOutcome, Session, SessionId, SessionUser, SqlStore, Store, StoreError,
    Timestamp, User, UserId,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Reply, TestApp, apps, test_config};

const HEALTHY: u8 = 0;
pub(crate) const DOWN: u8 = 1;
const PANICKING: u8 = 2;
/// Every call takes `SLOW_CALL` before it reaches the database.
const SLOW: u8 = 3;
const SLOW_CALL: std::time::Duration = std::time::Duration::from_millis(300);

/// The real store, until a test says the database is down (every call fails as a lost
/// connection does), broken (every call panics) or slow.
pub(crate) struct FaultyStore {
    inner: SqlStore,
    pub(crate) mode: AtomicU8,
}

impl FaultyStore {
    async fn check(&self) -> Result<(), StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            DOWN => Err(StoreError::Unavailable(sqlx::Error::PoolTimedOut)),
            PANICKING => panic!("secret internal detail: connection string postgres://x:y@z"),
            SLOW => {
                tokio::time::sleep(SLOW_CALL).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Implements `Store` for `FaultyStore`: every method first asks `check`, then delegates.
macro_rules! checked_delegation {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        #[async_trait]
        impl Store for FaultyStore {
            $(async fn $name(&self $(, $arg: $ty)*) -> Result<$ret, StoreError> {
                self.check().await?;
                self.inner.$name($($arg),*).await
            })*
        }
    };
}

checked_delegation! {
    fn ping(&self) -> ();
    fn create_user(&self, user: NewUser) -> User;
    fn user_by_id(&self, id: UserId) -> Option<User>;
    fn user_by_email(&self, email: &str) -> Option<User>;
    fn user_by_username(&self, username: &str) -> Option<User>;
    fn touch_user(&self, id: UserId) -> Timestamp;
    fn delete_user(&self, id: UserId) -> ();
    fn update_account(&self, id: UserId, changes: AccountChanges) -> User;
    fn search_users(&self, prefix: &str, limit: i64) -> Vec<User>;
    fn create_session(&self, user: UserId, agent: Option<&str>, refresh: Option<&str>, until: Timestamp) -> Session;
    fn session_user(&self, session: SessionId, user: UserId) -> Option<SessionUser>;
    fn touch_session(&self, session: SessionId) -> ();
    fn rotate_refresh_token(&self, presented: &str, new: &str, until: Timestamp) -> RefreshOutcome;
    fn end_session(&self, session: SessionId, user: UserId) -> ();
    fn end_other_sessions(&self, user: UserId, keep: Option<SessionId>) -> u64;
    fn list_sessions(&self, user: UserId) -> Vec<Session>;
    fn purge_sessions(&self, before: Timestamp) -> u64;
    fn open_direct_conversation(&self, a: UserId, b: UserId) -> (Conversation, bool);
    fn direct_conversation(&self, a: UserId, b: UserId) -> Option<Conversation>;
    fn member_conversation(&self, id: ConversationId, user: UserId) -> Option<MemberConversation>;
    fn conversation_summary(&self, id: ConversationId, user: UserId) -> Option<ConversationSummary>;
    fn list_conversations(&self, user: UserId, after: Option<(Timestamp, ConversationId)>, limit: i64) -> Vec<ConversationSummary>;
    fn send_direct_message(&self, from: UserId, to: UserId, text: &str) -> Message;
    fn send_message(&self, id: ConversationId, from: UserId, text: &str, key: Option<Idempotency<'_>>) -> SendOutcome;
    fn purge_idempotency_keys(&self, before: Timestamp) -> u64;
    fn message_by_id(&self, id: MessageId) -> Option<Message>;
    fn edit_message(&self, id: MessageId, editor: UserId, text: &str) -> Message;
    fn message_versions(&self, id: MessageId) -> Vec<(String, Timestamp)>;
    fn delete_message(&self, id: MessageId, sender: UserId) -> Message;
    fn hide_message(&self, id: MessageId, user: UserId) -> ();
    fn conversation_messages(&self, id: ConversationId, viewer: UserId, window: HistoryWindow, limit: i64) -> MessageWindow;
    fn read_state(&self, id: ConversationId, user: UserId) -> ReadState;
    fn mark_read(&self, id: ConversationId, user: UserId, seq: i64) -> ReadState;
    fn messages_of_user(&self, user: UserId, limit: i64, offset: i64) -> Vec<Message>;
    fn direct_history(&self, user: UserId, peer: UserId, limit: i64, offset: i64) -> Page<Message>;
}

pub(crate) async fn faulty_app(db: TestDb) -> (TestApp, Arc<FaultyStore>) {
    let store = Arc::new(FaultyStore {
        inner: db.store(),
        mode: AtomicU8::new(HEALTHY),
    });
    let app = TestApp::start_with_store(db, store.clone()).await;
    (app, store)
}

#[tokio::test]
async fn a_send_whose_client_hangs_up_midway_still_completes() {
    for db in TestDb::all().await {
        let (app, store) = faulty_app(db).await;
        let (_, alice) = app.chat_user("alice").await;
        let (bob, bob_token) = app.chat_user("bob").await;
        store.mode.store(SLOW, Ordering::SeqCst);
        // The client gives up while the send is on its way to the database.
        let abandoned = app
            .client
            .post(app.url("/send"))
            .bearer_auth(&alice)
            .json(&json!({"recipient_id": bob, "content": "sent anyway"}))
            .timeout(SLOW_CALL / 3)
            .send()
            .await;
        assert!(
            abandoned.is_err(),
            "{}: the client should have timed out",
            app.label()
        );
        tokio::time::sleep(SLOW_CALL * 4).await;
        store.mode.store(HEALTHY, Ordering::SeqCst);
        let inbox = app.get("/messages/", Some(&bob_token)).await;
        assert_eq!(
            inbox.status,
            StatusCode::OK,
            "{}: {}",
            app.label(),
            inbox.body
        );
        assert_eq!(inbox.body[0]["content"], "sent anyway", "{}", app.label());
    }
}

#[tokio::test]
async fn health_endpoints_answer_ok() {
    for app in apps().await {
        for path in ["/health", "/healthz", "/readyz"] {
            let reply = app.get(path, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{} {path}", app.label());
            assert_eq!(reply.body["status"], "ok", "{} {path}", app.label());
        }
    }
}

#[tokio::test]
async fn an_unreachable_database_gives_503s_and_service_resumes_when_it_returns() {
    for db in TestDb::all().await {
        let (app, store) = faulty_app(db).await;
        let (_, token) = app.chat_user("alice").await;
        let (bob, _) = app.chat_user("bob").await;

        store.mode.store(DOWN, Ordering::SeqCst);
        let ready = app.get("/readyz", None).await;
        assert_eq!(
            ready.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            app.label()
        );
        assert_eq!(ready.body["database"], "unreachable");
        for reply in [
            app.post(
                "/send",
                json!({"recipient_id": bob, "content": "hi"}),
                Some(&token),
            )
            .await,
            app.post(
                "/login",
                json!({"username": "alice", "password": "whatever-password"}),
                None,
            )
            .await,
            app.get("/messages/", Some(&token)).await,
        ] {
            assert_eq!(
                reply.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{}: {}",
                app.label(),
                reply.body
            );
            assert_eq!(reply.code(), "service_unavailable");
        }
        // Liveness does not depend on the database: the process itself is fine.
        assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);

        store.mode.store(HEALTHY, Ordering::SeqCst);
        assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);
        let sent = app
            .post(
                "/send",
                json!({"recipient_id": bob, "content": "back"}),
                Some(&token),
            )
            .await;
        assert_eq!(sent.status, StatusCode::OK, "{}", app.label());
    }
}

#[tokio::test]
async fn a_panicking_handler_gives_a_json_500_without_internals() {
    for db in TestDb::all().await {
        let (app, store) = faulty_app(db).await;
        let (_, token) = app.chat_user("alice").await;
        store.mode.store(PANICKING, Ordering::SeqCst);
        let reply = app.get("/messages?peer_id=1", Some(&token)).await;
        assert_eq!(
            reply.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            app.label()
        );
        assert_eq!(reply.code(), "internal_error");
        let text = reply.body.to_string();
        assert!(
            !text.contains("secret") && !text.contains("postgres://"),
            "{text}"
        );
        // The server survives the panic.
        store.mode.store(HEALTHY, Ordering::SeqCst);
        assert_eq!(
            app.get("/messages?peer_id=1", Some(&token)).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_echoes_the_clients() {
    for app in apps().await {
        let generated = app.get("/healthz", None).await;
        let id = generated.headers["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "a UUID: {id}");

        let response = app
            .client
            .get(app.url("/no-such-route"))
            .header("x-request-id", "client-chosen-42")
            .send()
            .await
            .unwrap();
        let reply = Reply::read(response).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.headers["x-request-id"], "client-chosen-42");
    }
}

#[tokio::test]
async fn an_overlong_or_unprintable_request_id_is_replaced_not_echoed() {
    let app = TestApp::start(TestDb::sqlite().await, test_config).await;
    let longest = "r".repeat(128);
    let too_long = "x".repeat(129);
    let huge = "y".repeat(60_000);
    for (sent, kept) in [
        (longest.as_str(), true),
        (too_long.as_str(), false),
        (huge.as_str(), false),
        ("has space", false),
        ("tab\there", false),
    ] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let echoed = response.headers()["x-request-id"].to_str().unwrap();
        if kept {
            assert_eq!(echoed, sent);
        } else {
            assert_eq!(
                echoed.len(),
                36,
                "a new UUID in place of {} bytes",
                sent.len()
            );
        }
    }
}

#[tokio::test]
async fn cors_preflight_is_answered_for_any_origin_by_default() {
    for app in apps().await {
        let response = app
            .client
            .request(Method::OPTIONS, app.url("/send"))
            .header("origin", "https://chat.example.com")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(response.headers()["access-control-allow-origin"], "*");
        let allowed = response.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(allowed.contains("authorization"), "{allowed}");
    }
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db, |db| {
        let mut config = test_config(db);
        config.cors_origins =
            missive::config::CorsOrigins::List(vec!["https://app.example.com".parse().unwrap()]);
        config
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/send"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_of_both_faces() {
    let app = TestApp::start(TestDb::sqlite().await, test_config).await;
    let spec = app.get("/openapi.json", None).await;
    assert_eq!(spec.status, StatusCode::OK);
    let paths = &spec.body["paths"];
    for (path, method) in [
        ("/auth/register", "post"),
        ("/auth/login", "post"),
        ("/messages/", "post"),
        ("/messages/", "get"),
        ("/messages/{message_id}", "put"),
        ("/register", "post"),
        ("/login", "post"),
        ("/send", "post"),
        ("/messages", "get"),
        ("/health", "get"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} missing from the spec"
        );
    }
    let schemas = &spec.body["components"]["schemas"];
    for schema in [
        "MessageCreate",
        "MessageRead",
        "ChatSendRequest",
        "ChatHistoryPage",
        "ChatMessage",
        "V1Message",
        "ErrorBody",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema} missing");
    }
    assert!(spec.body["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_docs_pages_and_their_assets_are_served_from_the_binary() {
    let app = TestApp::start(TestDb::sqlite().await, test_config).await;
    let fetch = |path: &'static str| app.client.get(app.url(path)).send();

    let swagger = fetch("/docs/").await.unwrap();
    assert_eq!(swagger.status(), StatusCode::OK);
    assert!(swagger.text().await.unwrap().contains("swagger-ui"));
    let swagger_js = fetch("/docs/swagger-ui-bundle.js").await.unwrap();
    assert_eq!(swagger_js.status(), StatusCode::OK);

    let redoc = fetch("/redoc").await.unwrap();
    let page = redoc.text().await.unwrap();
    assert!(page.contains("/redoc/redoc.standalone.js") && page.contains("/openapi.json"));
    assert!(
        !page.contains("cdn"),
        "ReDoc must not load anything from a CDN"
    );
    let redoc_js = fetch("/redoc/redoc.standalone.js").await.unwrap();
    assert_eq!(redoc_js.status(), StatusCode::OK);
    assert!(redoc_js.bytes().await.unwrap().len() > 500_000);
}
