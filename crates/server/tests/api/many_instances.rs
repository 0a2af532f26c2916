//! Two instances over one PostgreSQL database and one Redis, as behind a load balancer: rate
//! limits hold for the cluster, not per instance. Runs when both `TEST_DATABASE_URL` and
//! `TEST_REDIS_URL` are set.

use missive_store::testing::TestDb;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Reply, TestApp, TestRedis, refused, shared_limits_config, status_is};

/// Two instances sharing a fresh PostgreSQL schema and a fresh Redis prefix, limits on.
async fn two_instances() -> Option<(TestApp, TestApp, TestRedis)> {
    let (db, redis) = (TestDb::postgres().await, TestRedis::new());
    let (db, redis) = (db?, redis?);
    let first = TestApp::start(db, |db| shared_limits_config(db, &redis.url, &redis.prefix)).await;
    let second = TestApp::start_second(&first, |db| {
        shared_limits_config(db, &redis.url, &redis.prefix)
    })
    .await;
    Some((first, second, redis))
}

#[track_caller]
fn limited(app: &TestApp, reply: &Reply, detail: &str) {
    refused(app, reply, StatusCode::TOO_MANY_REQUESTS, detail);
    assert_eq!(reply.code(), "rate_limited");
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
}

#[tokio::test]
async fn sends_are_limited_across_instances() {
    let Some((first, second, _redis)) = two_instances().await else {
        return;
    };
    let (_, alice) = first.chat_user("alice").await;
    let (bob, _) = second.chat_user("bob").await;
    let send = async |app: &TestApp, n: usize| {
        let body = json!({"recipient_id": bob, "content": format!("message {n}")});
        app.post("/send", body, Some(&alice)).await
    };
    for n in 0..30 {
        let app = if n % 2 == 0 { &first } else { &second };
        let reply = send(app, n).await;
        status_is(app, &reply, StatusCode::OK);
        assert_eq!(reply.headers["ratelimit-remaining"], (29 - n).to_string());
    }
    for app in [&first, &second] {
        limited(app, &send(app, 30).await, "Rate limit exceeded");
    }
    let history = first
        .get(&format!("/messages?peer_id={bob}&limit=100"), Some(&alice))
        .await;
    assert_eq!(history.body["total"], 30, "refused sends are not stored");
}

#[tokio::test]
async fn login_attempts_are_limited_across_instances() {
    let Some((first, second, _redis)) = two_instances().await else {
        return;
    };
    let login = json!({"username": "nobody", "password": "not-the-password"});
    for n in 0..5 {
        let app = if n % 2 == 0 { &first } else { &second };
        let reply = app.post("/login", login.clone(), None).await;
        refused(app, &reply, StatusCode::UNAUTHORIZED, "Invalid credentials");
    }
    for app in [&second, &first] {
        let reply = app.post("/login", login.clone(), None).await;
        limited(app, &reply, "Too many login attempts, try later");
    }
}
