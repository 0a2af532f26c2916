//! What every route shares: health and readiness, behaviour when the database goes away or a
//! handler panics, request ids, CORS and the API docs.

use std::time::Duration;

use missive_store::testing::TestDb;
use missive_store::{Fault, SqlStore};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Reply, TestApp, apps, test_config};

/// How long every statement waits under `Fault::Slow` in these tests.
const SLOW_CALL: Duration = Duration::from_millis(300);

/// The app over the real store, and a clone of that store whose `faults()` make every
/// statement fail as if the database were down (`Fault::Down`), panic, or wait.
pub(crate) async fn faulty_app(db: TestDb) -> (TestApp, SqlStore) {
    let store = db.store();
    let app = TestApp::start_with_store(db, store.clone()).await;
    (app, store)
}

#[tokio::test]
async fn a_send_whose_client_hangs_up_midway_still_completes() {
    for db in TestDb::all().await {
        let (app, store) = faulty_app(db).await;
        let (_, alice) = app.chat_user("alice").await;
        let (bob, bob_token) = app.chat_user("bob").await;
        store.faults().set(Fault::Slow(SLOW_CALL));
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
        store.faults().set(Fault::None);
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

        store.faults().set(Fault::Down);
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

        store.faults().set(Fault::None);
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
        store.faults().set(Fault::Panic);
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
        store.faults().set(Fault::None);
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
