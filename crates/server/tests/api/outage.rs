//! Real outages: the app reaches PostgreSQL or Redis through a TCP proxy that the test cuts
//! (dropping live connections and refusing new ones) and then restores. Without the database,
//! requests get 503s, never 500s or hangs; without Redis, rate limits are kept in-process and
//! every request is still served. Either way, service resumes by itself afterwards.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use missive_store::testing::TestDb;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Reply, TestApp, TestRedis, shared_limits_config, test_config};
use crate::proxy::{Proxy, target_of};

#[tokio::test]
async fn a_lost_postgres_gives_503s_and_the_service_recovers_by_itself() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let proxy = Proxy::start(target_of(&db.url, 5432)).await;
    let proxied_url = proxy.url_through(&db.url);
    let app = TestApp::start(db, move |db| {
        let mut config = test_config(db);
        config.database_url = missive::config::Secret::new(proxied_url);
        config
    })
    .await;
    let (_, alice) = app.chat_user("alice").await;
    let (bob, _) = app.chat_user("bob").await;
    let send = |content: &'static str| {
        app.post(
            "/send",
            json!({"recipient_id": bob, "content": content}),
            Some(&alice),
        )
    };
    assert_eq!(send("before").await.status, StatusCode::OK);

    proxy.cut();
    for _ in 0..3 {
        let started = Instant::now();
        let reply = send("during").await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a 503 must come quickly"
        );
    }
    assert_eq!(
        app.get("/readyz", None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    while Instant::now() < deadline {
        status = send("after").await.status;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        status,
        StatusCode::OK,
        "service did not recover after the database returned"
    );
    let history = app
        .get(&format!("/messages?peer_id={bob}&limit=100"), Some(&alice))
        .await;
    let contents: Vec<&str> = history.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    // Nothing sent during the outage was half-written; what succeeded is all there.
    assert_eq!(contents.first(), Some(&"after"));
    assert_eq!(contents.last(), Some(&"before"));
    assert!(!contents.contains(&"during"), "{contents:?}");
}

const BEFORE: u8 = 0;
const DURING: u8 = 1;
const AFTER: u8 = 2;
const STOP: u8 = 3;

/// One send of the steady stream the Redis outage test keeps up.
struct Sent {
    content: String,
    phase: u8,
    reply: Reply,
    took: Duration,
}

/// Sends a numbered message every 40 ms until the phase is `STOP`.
async fn keep_sending(app: &TestApp, token: String, bob: i64, phase: Arc<AtomicU8>) -> Vec<Sent> {
    let (client, url) = (app.client.clone(), app.url("/send"));
    let sender = async move {
        let mut sent = Vec::new();
        while phase.load(Ordering::SeqCst) != STOP {
            let content = format!("message {}", sent.len());
            let started = Instant::now();
            let phase_then = phase.load(Ordering::SeqCst);
            let request = client
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"recipient_id": bob, "content": content}));
            let reply = Reply::read(request.send().await.unwrap()).await;
            let (phase, took) = (phase_then, started.elapsed());
            sent.push(Sent {
                content,
                phase,
                reply,
                took,
            });
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        sent
    };
    tokio::spawn(sender).await.unwrap()
}

/// `/readyz`'s status code, `status` and `rate_limits`.
async fn readiness(app: &TestApp) -> (StatusCode, String, String) {
    let reply = app.get("/readyz", None).await;
    let field = |name: &str| reply.body[name].as_str().unwrap_or_default().to_owned();
    (reply.status, field("status"), field("rate_limits"))
}

/// `missive_redis_fallbacks_total{use="rate_limit"}` now (0 before the first).
async fn rate_limit_fallbacks(app: &TestApp) -> f64 {
    let text = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = text.text().await.unwrap();
    let series = r#"missive_redis_fallbacks_total{use="rate_limit"} "#;
    let line = text.lines().find_map(|line| line.strip_prefix(series));
    line.map_or(0.0, |value| value.parse().unwrap())
}

#[tokio::test]
async fn a_lost_redis_keeps_limits_in_process_and_they_are_shared_again_when_it_returns() {
    let Some(redis) = TestRedis::new() else {
        return;
    };
    let proxy = Proxy::start(target_of(&redis.url, 6379)).await;
    let proxied_url = proxy.url_through(&redis.url);
    let app = TestApp::start(TestDb::sqlite().await, |db| {
        shared_limits_config(db, &proxied_url, &redis.prefix)
    })
    .await;
    let (_, alice) = app.chat_user("alice").await;
    let (bob, _) = app.chat_user("bob").await;
    let ok = (StatusCode::OK, "ok".to_owned(), "ok".to_owned());
    assert_eq!(readiness(&app).await, ok);

    let phase = Arc::new(AtomicU8::new(BEFORE));
    let sending = keep_sending(&app, alice.clone(), bob, phase.clone());
    let outage = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let fallbacks_before = rate_limit_fallbacks(&app).await;
        proxy.cut();
        phase.store(DURING, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let degraded = (StatusCode::OK, "degraded".to_owned(), "degraded".to_owned());
        assert_eq!(readiness(&app).await, degraded, "while Redis is away");
        let counted = rate_limit_fallbacks(&app).await - fallbacks_before;
        assert!(counted >= 1.0, "the in-process counting shows on /metrics");
        proxy.restore();
        phase.store(AFTER, Ordering::SeqCst);
        let restored = Instant::now();
        while readiness(&app).await != ok {
            assert!(
                restored.elapsed() < Duration::from_secs(10),
                "limits were not shared again after Redis returned"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        phase.store(STOP, Ordering::SeqCst);
    };
    let (sent, ()) = tokio::join!(sending, outage);

    for sent in &sent {
        let reply = &sent.reply;
        assert!(
            sent.took < Duration::from_secs(2),
            "{} took {:?}",
            sent.content,
            sent.took
        );
        match reply.status {
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(reply.detail(), "Rate limit exceeded");
                assert!(reply.headers.contains_key("retry-after"));
            }
            other => panic!("{}: {other} {}", sent.content, reply.body),
        }
    }
    let served = |phase: u8| {
        let sent_then = sent.iter().filter(|s| s.phase == phase);
        sent_then
            .filter(|s| s.reply.status == StatusCode::OK)
            .count()
    };
    assert!(
        served(BEFORE) > 0 && served(DURING) > 0,
        "sends go on without Redis"
    );
    // Every send that was answered 200 is stored, and nothing else.
    let accepted: BTreeSet<&str> = sent
        .iter()
        .filter(|s| s.reply.status == StatusCode::OK)
        .map(|s| s.content.as_str())
        .collect();
    let history = app
        .get(&format!("/messages?peer_id={bob}&limit=100"), Some(&alice))
        .await;
    let stored: BTreeSet<&str> = history.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(stored, accepted);
}

#[tokio::test]
async fn an_unreachable_redis_at_start_up_leaves_the_service_serving_and_degraded() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = format!("redis://127.0.0.1:{port}");
    let app = TestApp::start(TestDb::sqlite().await, |db| {
        shared_limits_config(db, &nowhere, "nowhere")
    })
    .await;
    let (_, alice) = app.chat_user("alice").await;
    let (bob, _) = app.chat_user("bob").await;
    let reply = app
        .post(
            "/send",
            json!({"recipient_id": bob, "content": "hi"}),
            Some(&alice),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // Limits still hold, in-process.
    assert_eq!(reply.headers["ratelimit-remaining"], "29");
    let degraded = (StatusCode::OK, "degraded".to_owned(), "degraded".to_owned());
    assert_eq!(readiness(&app).await, degraded);
}
