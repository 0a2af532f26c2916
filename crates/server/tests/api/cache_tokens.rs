//! The cached token check: ending a session, one way or another, refuses its token at once,
//! even though the token had just been checked (and its check cached). Every backend, with
//! the in-process cache and, when `TEST_REDIS_URL` is set, with Redis.

use missive_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::cache::{cached_apps, seen, send, with_redis};
use crate::helpers::{PASSWORD, TestApp, TestRedis, status_is, test_config, test_redis_url};

/// Registers on /v1 and signs in `extra` more times: (user id, one access token per session).
async fn sessions_of(app: &TestApp, username: &str, extra: usize) -> (i64, Vec<String>) {
    let email = format!("{username}@example.com");
    let body = json!({"username": username, "email": email, "password": PASSWORD});
    let registered = app.post("/v1/auth/register", body, None).await;
    status_is(app, &registered, StatusCode::CREATED);
    let mut tokens = vec![registered.body["access_token"].as_str().unwrap().to_owned()];
    for _ in 0..extra {
        let login = json!({"login": username, "password": PASSWORD});
        let reply = app.post("/v1/auth/login", login, None).await;
        status_is(app, &reply, StatusCode::OK);
        tokens.push(reply.body["access_token"].as_str().unwrap().to_owned());
    }
    (registered.body["user"]["id"].as_i64().unwrap(), tokens)
}

/// Whether `token` authenticates, asked twice (so the second answer is the cached one).
pub async fn works(app: &TestApp, token: &str) -> bool {
    let first = app.get("/v1/users/me", Some(token)).await.status;
    let second = app.get("/v1/users/me", Some(token)).await.status;
    assert_eq!(first, second, "{}: the cached answer differs", app.label());
    match second {
        StatusCode::OK => true,
        StatusCode::UNAUTHORIZED => false,
        other => panic!("{}: /v1/users/me gave {other}", app.label()),
    }
}

/// Asserts every token in `tokens` still works, leaving its check cached.
async fn all_work(app: &TestApp, tokens: &[String], label: &str) {
    for token in tokens {
        assert!(works(app, token).await, "{label}");
    }
}

#[tokio::test]
async fn ending_sessions_refuses_their_cached_tokens_at_once() {
    for cached in cached_apps().await {
        let (app, label) = (&cached.app, cached.label());
        let (_, tokens) = sessions_of(app, "alice", 4).await;
        all_work(app, &tokens, &label).await;

        let logout = app
            .post("/v1/auth/logout", json!({}), Some(&tokens[0]))
            .await;
        status_is(app, &logout, StatusCode::NO_CONTENT);
        assert!(!works(app, &tokens[0]).await, "{label}: logout");
        all_work(app, &tokens[1..], &format!("{label}: after a logout")).await;

        let listed = app.get("/v1/sessions", Some(&tokens[1])).await;
        let listed = listed.body.as_array().unwrap().clone();
        let current = listed.iter().find(|s| s["current"] == true).unwrap();
        let path = format!("/v1/sessions/{}", current["id"]);
        let ended = app
            .call(Method::DELETE, &path, None, Some(&tokens[2]))
            .await;
        status_is(app, &ended, StatusCode::NO_CONTENT);
        assert!(
            !works(app, &tokens[1]).await,
            "{label}: ended by another session"
        );
        all_work(
            app,
            &tokens[2..],
            &format!("{label}: after a session ended"),
        )
        .await;

        let change = json!({"current_password": PASSWORD, "new_password": "a-new-long-password"});
        let changed = app
            .call(
                Method::PATCH,
                "/v1/users/me",
                Some(change),
                Some(&tokens[2]),
            )
            .await;
        status_is(app, &changed, StatusCode::OK);
        for token in &tokens[3..] {
            assert!(!works(app, token).await, "{label}: password change");
        }
        assert!(
            works(app, &tokens[2]).await,
            "{label}: the changing session stays"
        );

        let all = app
            .post("/v1/auth/logout-all", json!({}), Some(&tokens[2]))
            .await;
        status_is(app, &all, StatusCode::NO_CONTENT);
        for token in &tokens {
            assert!(!works(app, token).await, "{label}: logout-all");
        }
    }
}

/// `GET path` as `token`, twice (the second answer cached), expecting 200; the body.
async fn read_twice(app: &TestApp, path: &str, token: &str) -> serde_json::Value {
    let first = app.get(path, Some(token)).await;
    let second = app.get(path, Some(token)).await;
    status_is(app, &second, StatusCode::OK);
    assert_eq!(
        first.body,
        second.body,
        "{}: the cached answer differs",
        app.label()
    );
    second.body
}

#[tokio::test]
async fn account_changes_and_logins_show_at_once_through_cached_users() {
    for cached in cached_apps().await {
        let (app, label) = (&cached.app, cached.label());
        let (alice, tokens) = sessions_of(app, "alice", 0).await;
        let (_, bob_tokens) = sessions_of(app, "bob", 0).await;
        let (alice_token, bob_token) = (&tokens[0], &bob_tokens[0]);
        let profile = format!("/v1/users/{alice}");
        let before = read_twice(app, "/v1/users/me", alice_token).await;
        assert_eq!(
            read_twice(app, &profile, bob_token).await["full_name"],
            json!(null)
        );

        let rename = json!({"full_name": "Alice L."});
        let renamed = app
            .call(
                Method::PATCH,
                "/v1/users/me",
                Some(rename),
                Some(alice_token),
            )
            .await;
        status_is(app, &renamed, StatusCode::OK);
        assert_eq!(
            read_twice(app, "/v1/users/me", alice_token).await["full_name"],
            "Alice L.",
            "{label}"
        );
        assert_eq!(
            read_twice(app, &profile, bob_token).await["full_name"],
            "Alice L.",
            "{label}"
        );

        let login = json!({"login": "alice", "password": PASSWORD});
        status_is(
            app,
            &app.post("/v1/auth/login", login, None).await,
            StatusCode::OK,
        );
        let after = read_twice(app, "/v1/users/me", alice_token).await;
        assert_ne!(
            after["last_active_at"], before["last_active_at"],
            "{label}: a login is activity"
        );
    }
}

#[tokio::test]
async fn a_reused_refresh_token_ends_the_cached_session_at_once() {
    for cached in cached_apps().await {
        let (app, label) = (&cached.app, cached.label());
        let body = json!({"username": "alice", "email": "a@example.com", "password": PASSWORD});
        let registered = app.post("/v1/auth/register", body, None).await;
        let access = registered.body["access_token"].as_str().unwrap();
        let spent = registered.body["refresh_token"].as_str().unwrap();
        let refreshed = app
            .post("/v1/auth/refresh", json!({"refresh_token": spent}), None)
            .await;
        status_is(app, &refreshed, StatusCode::OK);
        let new_access = refreshed.body["access_token"].as_str().unwrap();
        assert!(
            works(app, access).await && works(app, new_access).await,
            "{label}"
        );

        let reused = app
            .post("/v1/auth/refresh", json!({"refresh_token": spent}), None)
            .await;
        status_is(app, &reused, StatusCode::UNAUTHORIZED);
        assert!(!works(app, access).await, "{label}");
        assert!(!works(app, new_access).await, "{label}");
    }
}

/// The app, its cache in-process or (with `redis`) in Redis.
async fn app_with_cache(db: TestDb, redis: Option<&TestRedis>) -> (TestApp, &'static str) {
    match redis {
        Some(redis) => {
            let app = TestApp::start(db, |db| with_redis(db, &redis.url, &redis.prefix)).await;
            (app, "redis")
        }
        None => (TestApp::start(db, test_config).await, "memory"),
    }
}

#[tokio::test]
async fn deleting_a_user_refuses_their_cached_token_and_keeps_what_they_sent() {
    let mut setups = Vec::new();
    for db in TestDb::all().await {
        setups.push((db, None));
    }
    if test_redis_url().is_some() {
        for db in TestDb::all().await {
            setups.push((db, TestRedis::new()));
        }
    }
    for (db, redis) in setups {
        let (app, cache) = app_with_cache(db, redis.as_ref()).await;
        let label = format!("{} + {cache} cache", app.label());
        let (alice, alice_token) = app.chat_user("alice").await;
        let (bob, bob_token) = app.chat_user("bob").await;
        send(&app, &alice_token, bob, "from alice").await;
        assert_eq!(
            seen(&app, &alice_token, bob).await,
            ["from alice"],
            "{label}"
        );
        assert_eq!(
            seen(&app, &bob_token, alice).await,
            ["from alice"],
            "{label}"
        );

        // No route deletes a user: the use case does, through the cache's post-commit point.
        app.core
            .delete_user(missive_store::UserId(alice))
            .await
            .unwrap();
        let refused = app
            .get(&format!("/messages?peer_id={bob}"), Some(&alice_token))
            .await;
        status_is(&app, &refused, StatusCode::UNAUTHORIZED);
        // What alice sent stays with bob.
        assert_eq!(
            seen(&app, &bob_token, alice).await,
            ["from alice"],
            "{label}"
        );
    }
}
