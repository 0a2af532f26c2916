//! The Redis cache across instances and outages: two instances over one PostgreSQL database
//! and one Redis (as behind a load balancer) never show each other's old state, and an
//! instance that loses Redis serves from the database and shows nothing stale once it is back.
//! Needs `TEST_REDIS_URL` (and `TEST_DATABASE_URL` for two instances); skipped otherwise.

use std::time::{Duration, Instant};

use missive_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::cache::{contents, page, seen, send, with_redis};
use crate::cache_tokens::works;
use crate::helpers::{TestApp, TestRedis, status_is};
use crate::proxy::{Proxy, target_of};

/// Two instances sharing a fresh PostgreSQL schema and a fresh Redis prefix.
async fn two_instances() -> Option<(TestApp, TestApp, TestRedis)> {
    let (db, redis) = (TestDb::postgres().await, TestRedis::new());
    let (db, redis) = (db?, redis?);
    let first = TestApp::start(db, |db| with_redis(db, &redis.url, &redis.prefix)).await;
    let second =
        TestApp::start_second(&first, |db| with_redis(db, &redis.url, &redis.prefix)).await;
    Some((first, second, redis))
}

#[tokio::test]
async fn writes_through_one_instance_are_seen_at_once_through_the_other() {
    let Some((a, b, _redis)) = two_instances().await else {
        return;
    };
    let (alice, alice_token) = a.chat_user("alice").await;
    let (bob, bob_token) = b.chat_user("bob").await;
    send(&a, &alice_token, bob, "first").await;
    // B caches the pages and both token checks.
    assert_eq!(seen(&b, &bob_token, alice).await, ["first"]);
    assert_eq!(seen(&b, &alice_token, bob).await, ["first"]);

    let second = send(&a, &alice_token, bob, "second").await;
    let on_b = page(&b, &bob_token, alice, 20, 0).await;
    assert_eq!(contents(&on_b), ["second", "first"], "{on_b}");
    assert_eq!(on_b["total"], 2);

    let edit = json!({"content": "second, edited"});
    let path = format!("/v1/messages/{second}");
    let edited = a
        .call(Method::PATCH, &path, Some(edit), Some(&alice_token))
        .await;
    status_is(&a, &edited, StatusCode::OK);
    assert_eq!(
        seen(&b, &bob_token, alice).await,
        ["second, edited", "first"]
    );

    assert!(works(&b, &alice_token).await);
    let logout = a
        .post("/v1/auth/logout", json!({}), Some(&alice_token))
        .await;
    status_is(&a, &logout, StatusCode::NO_CONTENT);
    let refused = b
        .get(&format!("/messages?peer_id={bob}"), Some(&alice_token))
        .await;
    status_is(&b, &refused, StatusCode::UNAUTHORIZED);
    assert!(!works(&b, &alice_token).await);
}

/// A value the cache keeps in Redis, read directly.
async fn cached_value(redis: &TestRedis, key: &str) -> Option<String> {
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("GET")
        .arg(format!("{}:cache:{key}", redis.prefix))
        .query_async(&mut connection)
        .await
        .unwrap()
}

#[tokio::test]
async fn while_redis_is_away_reads_come_from_the_database_and_nothing_stale_follows() {
    let Some(redis) = TestRedis::new() else {
        return;
    };
    let proxy = Proxy::start(target_of(&redis.url, 6379)).await;
    let through = proxy.url_through(&redis.url);
    let app = TestApp::start(TestDb::sqlite().await, |db| {
        with_redis(db, &through, &redis.prefix)
    })
    .await;
    let (alice, alice_token) = app.chat_user("alice").await;
    let (bob, bob_token) = app.chat_user("bob").await;
    send(&app, &alice_token, bob, "before").await;
    assert_eq!(seen(&app, &alice_token, bob).await, ["before"]);
    let pair = format!("pair:{}:{}:ver", alice.min(bob), alice.max(bob));
    let (epoch, version) = (
        cached_value(&redis, "epoch").await,
        cached_value(&redis, &pair).await,
    );
    assert!(epoch.is_some() && version.is_some());

    proxy.cut();
    let started = Instant::now();
    send(&app, &bob_token, alice, "during").await;
    assert_eq!(seen(&app, &alice_token, bob).await, ["during", "before"]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    proxy.restore();

    // The send's invalidation never reached Redis, so the page cached before the outage is
    // still there under the current pair version: only the new epoch keeps it from being
    // served. Every read, before and after the cache is back in use, must be fresh.
    let deadline = Instant::now() + Duration::from_secs(8);
    while cached_value(&redis, "epoch").await == epoch {
        assert_eq!(seen(&app, &alice_token, bob).await, ["during", "before"]);
        assert!(Instant::now() < deadline, "the cache did not resume");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cached_value(&redis, &pair).await, version);
    assert_eq!(seen(&app, &alice_token, bob).await, ["during", "before"]);
    assert_eq!(seen(&app, &bob_token, alice).await, ["during", "before"]);
}
