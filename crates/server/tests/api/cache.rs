//! The cache (on in every test app): the read right after any write shows that write, even
//! when the read before it was cached. Each test runs on every backend with the in-process
//! cache, and again with the Redis cache when `TEST_REDIS_URL` is set. Two instances sharing
//! one Redis, and Redis outages: `cache_shared`; the token check: `cache_tokens`.

use futures::future::join_all;
use missive_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestRedis, status_is, test_config, test_redis_url};

/// An app under test, and the Redis prefix its cache uses (if any), kept until the end.
pub struct Cached {
    pub app: TestApp,
    pub redis: Option<TestRedis>,
}

impl Cached {
    pub fn label(&self) -> String {
        let cache = if self.redis.is_some() {
            "Redis"
        } else {
            "in-process"
        };
        format!("{} + {cache} cache", self.app.label())
    }
}

/// Every backend with the in-process cache; again with Redis when `TEST_REDIS_URL` is set.
pub async fn cached_apps() -> Vec<Cached> {
    let mut apps = Vec::new();
    for db in TestDb::all().await {
        let app = TestApp::start(db, test_config).await;
        apps.push(Cached { app, redis: None });
    }
    if test_redis_url().is_some() {
        for db in TestDb::all().await {
            let redis = TestRedis::new().unwrap();
            let app = TestApp::start(db, |db| with_redis(db, &redis.url, &redis.prefix)).await;
            apps.push(Cached {
                app,
                redis: Some(redis),
            });
        }
    }
    apps
}

/// `test_config` with the cache in the Redis at `url`, under `prefix`.
pub fn with_redis(db: &TestDb, url: &str, prefix: &str) -> missive::config::Config {
    let mut config = test_config(db);
    config.redis_url = Some(missive::config::Secret::new(url));
    config.redis_prefix = prefix.to_owned();
    config
}

/// `GET /messages?peer_id=&limit=&offset=`, expected to succeed.
pub async fn page(app: &TestApp, token: &str, peer: i64, limit: i64, offset: i64) -> Value {
    let path = format!("/messages?peer_id={peer}&limit={limit}&offset={offset}");
    let reply = app.get(&path, Some(token)).await;
    status_is(app, &reply, StatusCode::OK);
    reply.body
}

/// The contents on a page, newest first.
pub fn contents(page: &Value) -> Vec<String> {
    let messages = page["messages"].as_array().unwrap();
    messages
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

/// The contents of the whole conversation as `token`'s user sees it, read twice so that the
/// second read comes from the cache; asserts `total` agrees.
pub async fn seen(app: &TestApp, token: &str, peer: i64) -> Vec<String> {
    let first = page(app, token, peer, 100, 0).await;
    let again = page(app, token, peer, 100, 0).await;
    assert_eq!(first, again, "{}: a cached page differs", app.label());
    let seen = contents(&again);
    assert_eq!(again["total"], seen.len(), "{}: {again}", app.label());
    seen
}

/// Sends on the Chat Service face; returns the message id.
pub async fn send(app: &TestApp, token: &str, to: i64, content: &str) -> i64 {
    let body = json!({"recipient_id": to, "content": content});
    let reply = app.post("/send", body, Some(token)).await;
    status_is(app, &reply, StatusCode::OK);
    reply.body["id"].as_i64().unwrap()
}

/// Two users of one app and their tokens.
struct Pair<'a> {
    app: &'a TestApp,
    label: String,
    alice: (i64, String),
    bob: (i64, String),
}

impl Pair<'_> {
    /// Asserts what each side sees, reading each page twice: so before the next write, both
    /// pages are cached.
    async fn see(&self, alice_sees: &[&str], bob_sees: &[&str]) {
        let (app, label) = (self.app, &self.label);
        let (alice, bob) = (&self.alice, &self.bob);
        assert_eq!(
            seen(app, &alice.1, bob.0).await,
            alice_sees,
            "{label}: alice"
        );
        assert_eq!(seen(app, &bob.1, alice.0).await, bob_sees, "{label}: bob");
    }

    /// `method path` with `body` as `who`, expecting `status`; returns the body.
    async fn call(
        &self,
        who: &(i64, String),
        method: Method,
        path: &str,
        body: Option<Value>,
        status: StatusCode,
    ) -> Value {
        let reply = self.app.call(method, path, body, Some(&who.1)).await;
        status_is(self.app, &reply, status);
        reply.body
    }
}

#[tokio::test]
async fn every_kind_of_write_is_seen_by_the_next_read_of_a_cached_page() {
    for cached in cached_apps().await {
        let app = &cached.app;
        let pair = Pair {
            app,
            label: cached.label(),
            alice: app.chat_user("alice").await,
            bob: app.chat_user("bob").await,
        };
        let (alice, bob) = (&pair.alice, &pair.bob);
        pair.see(&[], &[]).await;

        let one = send(app, &alice.1, bob.0, "one").await;
        pair.see(&["one"], &["one"]).await;
        let two = send(app, &bob.1, alice.0, "two").await;
        pair.see(&["two", "one"], &["two", "one"]).await;

        // A /v1 send, into the conversation by its id.
        // (The sends opened the conversation: opening it again finds it.)
        let peer = Some(json!({"peer_id": bob.0}));
        let opened = pair
            .call(
                alice,
                Method::POST,
                "/v1/conversations",
                peer,
                StatusCode::OK,
            )
            .await;
        let path = format!("/v1/conversations/{}/messages", opened["id"]);
        let body = Some(json!({"content": "three"}));
        let sent = pair
            .call(alice, Method::POST, &path, body, StatusCode::CREATED)
            .await;
        let three = sent["id"].as_i64().unwrap();
        let all = ["three", "two", "one"];
        pair.see(&all, &all).await;

        // Edits on /v1 and on the Message Service face.
        let edit = Some(json!({"content": "one, edited"}));
        let path = format!("/v1/messages/{one}");
        pair.call(alice, Method::PATCH, &path, edit, StatusCode::OK)
            .await;
        let all = ["three", "two", "one, edited"];
        pair.see(&all, &all).await;
        let edit = Some(json!({"content": "one, again"}));
        let path = format!("/messages/{one}");
        pair.call(alice, Method::PUT, &path, edit, StatusCode::OK)
            .await;
        let all = ["three", "two", "one, again"];
        pair.see(&all, &all).await;

        // A delete for everyone, then a hide for one side only.
        let path = format!("/v1/messages/{two}");
        pair.call(bob, Method::DELETE, &path, None, StatusCode::OK)
            .await;
        let all = ["three", "one, again"];
        pair.see(&all, &all).await;
        let path = format!("/v1/messages/{three}?for=me");
        pair.call(bob, Method::DELETE, &path, None, StatusCode::NO_CONTENT)
            .await;
        pair.see(&all, &["one, again"]).await;
    }
}

#[tokio::test]
async fn a_larger_page_after_a_smaller_one_is_complete_and_total_is_right() {
    for cached in cached_apps().await {
        let (app, label) = (&cached.app, cached.label());
        let (_, alice) = app.chat_user("alice").await;
        let (bob, _) = app.chat_user("bob").await;
        for n in 1..=12 {
            send(app, &alice, bob, &format!("m{n}")).await;
        }
        for (limit, offset, expected) in
            [(5, 0, 5), (10, 0, 10), (100, 0, 12), (5, 10, 2), (5, 5, 5)]
        {
            for _ in 0..2 {
                let body = page(app, &alice, bob, limit, offset).await;
                assert_eq!(
                    contents(&body).len(),
                    expected,
                    "{label} {limit}/{offset}: {body}"
                );
                assert_eq!(body["total"], 12, "{label}");
            }
        }
        send(app, &alice, bob, "m13").await;
        let whole = page(app, &alice, bob, 100, 0).await;
        assert_eq!(whole["total"], 13, "{label}");
        assert_eq!(
            contents(&whole).first().map(String::as_str),
            Some("m13"),
            "{label}"
        );
        let tail = page(app, &alice, bob, 5, 10).await;
        assert_eq!(contents(&tail), ["m3", "m2", "m1"], "{label}");
    }
}

#[tokio::test]
async fn concurrent_sends_all_appear_on_the_next_page() {
    for cached in cached_apps().await {
        let (app, label) = (&cached.app, cached.label());
        let (alice, alice_token) = app.chat_user("alice").await;
        let (bob, bob_token) = app.chat_user("bob").await;
        let (alice_token, bob_token) = (alice_token.as_str(), bob_token.as_str());
        // Readers keep filling the cache while the sends commit.
        let sends = (0..24).map(|n| async move {
            let (token, to) = if n % 2 == 0 {
                (alice_token, bob)
            } else {
                (bob_token, alice)
            };
            send(app, token, to, &format!("concurrent {n}")).await;
            page(app, alice_token, bob, 100, 0).await;
        });
        let reads = (0..24).map(|_| page(app, bob_token, alice, 100, 0));
        let (_, _) = futures::join!(join_all(sends), join_all(reads));

        for (token, peer) in [(alice_token, bob), (bob_token, alice)] {
            let mut all = seen(app, token, peer).await;
            all.sort();
            let mut expected: Vec<String> = (0..24).map(|n| format!("concurrent {n}")).collect();
            expected.sort();
            assert_eq!(all, expected, "{label}");
        }
    }
}
