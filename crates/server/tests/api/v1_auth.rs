//! `/v1` accounts and sessions: registering, logging in, rotating refresh tokens, listing and
//! ending sessions, and one access token that works on every face.

use jsonwebtoken::{EncodingKey, Header};
use missive_store::DbPool;
use reqwest::header::USER_AGENT;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, apps, keys, refused, status_is};

const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes";
const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
const PHONE: &str = "missive-test/1.0 (phone)";
const TOKEN_KEYS: [&str; 5] = [
    "access_token",
    "expires_in",
    "refresh_token",
    "token_type",
    "user",
];
pub const ME_KEYS: [&str; 6] = [
    "created_at",
    "email",
    "full_name",
    "id",
    "last_active_at",
    "username",
];

/// Registers `username` (e-mail `<username>@example.com`); returns (user id, access, refresh).
pub async fn v1_register(app: &TestApp, username: &str) -> (i64, String, String) {
    let email = format!("{username}@example.com");
    let body = json!({"username": username, "email": email, "password": PASSWORD});
    let reply = app.post("/v1/auth/register", body, None).await;
    status_is(app, &reply, StatusCode::CREATED);
    tokens(&reply)
}

/// The (user id, access token, refresh token) of a registration, login or refresh.
pub fn tokens(reply: &Reply) -> (i64, String, String) {
    let text = |key: &str| reply.body[key].as_str().unwrap().to_owned();
    let id = reply.body["user"]["id"].as_i64().unwrap();
    (id, text("access_token"), text("refresh_token"))
}

pub async fn v1_login(app: &TestApp, login: &str, password: &str) -> Reply {
    let body = json!({"login": login, "password": password});
    app.post("/v1/auth/login", body, None).await
}

async fn login_with_agent(app: &TestApp, login: &str, agent: &str) -> Reply {
    let request = app
        .client
        .post(app.url("/v1/auth/login"))
        .header(USER_AGENT, agent)
        .json(&json!({"login": login, "password": PASSWORD}));
    Reply::read(request.send().await.unwrap()).await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Reply {
    let body = json!({"refresh_token": refresh_token});
    app.post("/v1/auth/refresh", body, None).await
}

/// Asserts the access token still authenticates on `GET /v1/users/me`.
pub async fn assert_token_works(app: &TestApp, token: &str, what: &str) {
    let reply = app.get("/v1/users/me", Some(token)).await;
    let label = format!("{} {what}: {}", app.label(), reply.body);
    assert_eq!(reply.status, StatusCode::OK, "{label}");
}

/// Asserts the access token is refused as the token of an ended session.
pub async fn assert_token_ended(app: &TestApp, token: &str, what: &str) {
    let reply = app.get("/v1/users/me", Some(token)).await;
    let label = format!("{} {what}: {}", app.label(), reply.body);
    assert_eq!(reply.status, UNAUTHORIZED, "{label}");
    assert_eq!(reply.detail(), "Invalid token", "{label}");
}

async fn sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = app.get("/v1/sessions", Some(token)).await;
    status_is(app, &reply, StatusCode::OK);
    reply.body.as_array().unwrap().clone()
}

/// The id of the session `token` belongs to, as `GET /v1/sessions` marks it.
async fn current_session(app: &TestApp, token: &str) -> i64 {
    let listed = sessions(app, token).await;
    let current = listed.iter().find(|s| s["current"] == json!(true)).unwrap();
    current["id"].as_i64().unwrap()
}

fn forged_token(sub: i64, sid: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": sub.to_string(), "sid": sid, "iat": now, "exp": now + 600,
        "iss": "missive", "aud": "missive",
    });
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap()
}

async fn stored_refresh_hashes(app: &TestApp) -> Vec<String> {
    const SQL: &str = "SELECT token_hash FROM refresh_tokens";
    match &app.db.pool {
        DbPool::Sqlite { reads: pool, .. } => {
            sqlx::query_scalar(SQL).fetch_all(pool).await.unwrap()
        }
        DbPool::Postgres(pool) => sqlx::query_scalar(SQL).fetch_all(pool).await.unwrap(),
    }
}

#[tokio::test]
async fn registering_answers_201_with_the_user_and_a_fresh_pair_of_tokens() {
    for app in apps().await {
        let body = json!({"username": "alice", "email": "alice@example.com",
            "password": PASSWORD, "full_name": "Alice Liddell"});

        let reply = app.post("/v1/auth/register", body, None).await;

        status_is(&app, &reply, StatusCode::CREATED);
        let label = format!("{}: {}", app.label(), reply.body);
        assert_eq!(keys(&reply.body), TOKEN_KEYS, "{label}");
        assert_eq!(keys(&reply.body["user"]), ME_KEYS, "{label}");
        assert_eq!(reply.body["user"]["username"], "alice", "{label}");
        assert_eq!(reply.body["user"]["email"], "alice@example.com", "{label}");
        assert_eq!(reply.body["user"]["full_name"], "Alice Liddell", "{label}");
        assert_eq!(reply.body["token_type"], "bearer", "{label}");
        assert_eq!(reply.body["expires_in"], 1800, "{label}");
        let (_, access, refresh_token) = tokens(&reply);
        assert!(refresh_token.starts_with("mrt_"), "{label}");
        assert_ne!(access, refresh_token, "{label}");
        let text = reply.body.to_string();
        for secret in [PASSWORD, "password", "argon2"] {
            assert!(!text.contains(secret), "{label}");
        }
        assert_token_works(&app, &access, "the registration's token").await;
    }
}

#[tokio::test]
async fn a_taken_username_or_email_is_a_conflict_whatever_its_case() {
    for app in apps().await {
        v1_register(&app, "alice").await;
        let taken_name = json!({"username": "ALICE", "email": "other@example.com",
            "password": PASSWORD});
        let taken_email = json!({"username": "alice2", "email": "Alice@EXAMPLE.com",
            "password": PASSWORD});

        let name = app.post("/v1/auth/register", taken_name, None).await;
        let email = app.post("/v1/auth/register", taken_email, None).await;

        status_is(&app, &name, StatusCode::CONFLICT);
        assert_eq!(name.code(), "username_taken", "{}", app.label());
        status_is(&app, &email, StatusCode::CONFLICT);
        assert_eq!(email.code(), "email_taken", "{}", app.label());
    }
}

#[tokio::test]
async fn every_invalid_registration_field_is_listed_in_one_422() {
    for app in apps().await {
        let bad = json!({"username": "a b", "email": "not-an-address", "password": "short",
            "full_name": "x".repeat(201)});

        let reply = app.post("/v1/auth/register", bad, None).await;
        let missing = app
            .post("/v1/auth/register", json!({"username": "alice"}), None)
            .await;

        status_is(&app, &reply, StatusCode::UNPROCESSABLE_ENTITY);
        let mut fields = reply.field_names();
        fields.sort_unstable();
        let every = ["email", "full_name", "password", "username"];
        assert_eq!(fields, every, "{}", app.label());
        assert!(!reply.body.to_string().contains("short"), "{}", app.label());
        status_is(&app, &missing, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn login_takes_a_username_or_an_email_in_any_case() {
    for app in apps().await {
        let (id, _, _) = v1_register(&app, "alice").await;

        for login in ["alice", "ALICE", "alice@example.com", "Alice@Example.COM"] {
            let reply = v1_login(&app, login, PASSWORD).await;

            status_is(&app, &reply, StatusCode::OK);
            assert_eq!(keys(&reply.body), TOKEN_KEYS, "{} {login}", app.label());
            let (user_id, access, refresh_token) = tokens(&reply);
            assert_eq!(user_id, id, "{} {login}", app.label());
            assert!(refresh_token.starts_with("mrt_"), "{} {login}", app.label());
            assert_token_works(&app, &access, login).await;
        }
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_login_are_refused_identically() {
    for app in apps().await {
        v1_register(&app, "alice").await;

        let wrong = v1_login(&app, "alice", "not-the-password").await;
        let unknown = v1_login(&app, "nobody", PASSWORD).await;
        let unknown_email = v1_login(&app, "nobody@example.com", PASSWORD).await;

        refused(&app, &wrong, UNAUTHORIZED, "Invalid credentials");
        assert_eq!(wrong.code(), "invalid_credentials", "{}", app.label());
        for other in [&unknown, &unknown_email] {
            assert_eq!(other.status, wrong.status, "{}", app.label());
            assert_eq!(other.body, wrong.body, "{}", app.label());
        }
    }
}

#[tokio::test]
async fn refreshing_hands_out_a_new_access_token_and_a_new_refresh_token() {
    for app in apps().await {
        let (id, _, first) = v1_register(&app, "alice").await;

        let reply = refresh(&app, &first).await;

        status_is(&app, &reply, StatusCode::OK);
        assert_eq!(keys(&reply.body), TOKEN_KEYS, "{}", app.label());
        let (user_id, new_access, second) = tokens(&reply);
        assert_eq!(user_id, id, "{}", app.label());
        let label = app.label();
        assert!(second.starts_with("mrt_") && second != first, "{label}");
        assert_token_works(&app, &new_access, "the refreshed access token").await;
        let again = refresh(&app, &second).await;
        status_is(&app, &again, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_spent_refresh_token_presented_again_ends_its_whole_session() {
    for app in apps().await {
        let (_, first_access, first) = v1_register(&app, "alice").await;
        let (_, second_access, second) = tokens(&refresh(&app, &first).await);

        let reused = refresh(&app, &first).await;

        status_is(&app, &reused, UNAUTHORIZED);
        assert_eq!(reused.code(), "refresh_token_reused", "{}", app.label());
        let newest = refresh(&app, &second).await;
        status_is(&app, &newest, UNAUTHORIZED);
        assert_token_ended(&app, &first_access, "the first access token").await;
        assert_token_ended(&app, &second_access, "the refreshed access token").await;
    }
}

#[tokio::test]
async fn garbage_or_unknown_refresh_tokens_are_refused() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        let unknown = format!("mrt_{}", "A".repeat(43));

        for token in ["", "garbage", "mrt_", unknown.as_str(), access.as_str()] {
            let reply = refresh(&app, token).await;

            let label = format!("{} {token:?}", app.label());
            status_is(&app, &reply, UNAUTHORIZED);
            assert_eq!(reply.code(), "invalid_refresh_token", "{label}");
        }
    }
}

#[tokio::test]
async fn logout_ends_the_current_session_only() {
    for app in apps().await {
        let (_, access, refresh_token) = v1_register(&app, "alice").await;
        let (_, other_access, other_refresh) = tokens(&v1_login(&app, "alice", PASSWORD).await);

        let reply = app.post("/v1/auth/logout", json!({}), Some(&access)).await;

        status_is(&app, &reply, StatusCode::NO_CONTENT);
        assert_token_ended(&app, &access, "the logged-out token").await;
        let spent = refresh(&app, &refresh_token).await;
        status_is(&app, &spent, UNAUTHORIZED);
        assert_token_works(&app, &other_access, "another session's token").await;
        status_is(&app, &refresh(&app, &other_refresh).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn logout_all_ends_every_session_including_compatibility_logins() {
    for app in apps().await {
        let (_, access, refresh_token) = v1_register(&app, "alice").await;
        let (_, second, _) = tokens(&v1_login(&app, "alice", PASSWORD).await);
        let face2 = json!({"username": "alice", "password": PASSWORD});
        let chat = app.post("/login", face2, None).await;
        let face1 = json!({"email": "alice@example.com", "password": PASSWORD});
        let message = app.post("/auth/login", face1, None).await;
        let (chat, message) = (&chat.body["access_token"], &message.body["access_token"]);
        let (chat, message) = (chat.as_str().unwrap(), message.as_str().unwrap());
        let (_, bob, _) = v1_register(&app, "bob").await;

        let reply = app
            .post("/v1/auth/logout-all", json!({}), Some(&second))
            .await;

        status_is(&app, &reply, StatusCode::NO_CONTENT);
        for (token, what) in [
            (access.as_str(), "registration"),
            (second.as_str(), "caller"),
            (chat, "chat /login"),
            (message, "message /auth/login"),
        ] {
            assert_token_ended(&app, token, what).await;
        }
        status_is(&app, &refresh(&app, &refresh_token).await, UNAUTHORIZED);
        assert_token_works(&app, &bob, "another user's token").await;
    }
}

#[tokio::test]
async fn sessions_are_listed_most_recently_used_first_with_the_current_one_marked() {
    for app in apps().await {
        let (_, _, first_refresh) = v1_register(&app, "alice").await;
        let phone = login_with_agent(&app, "alice", PHONE).await;
        let (_, phone_access, _) = tokens(&phone);

        let listed = sessions(&app, &phone_access).await;

        let label = format!("{}: {listed:?}", app.label());
        assert_eq!(listed.len(), 2, "{label}");
        let session_keys = ["created_at", "current", "id", "last_used_at", "user_agent"];
        assert_eq!(keys(&listed[0]), session_keys, "{label}");
        assert_eq!(listed[0]["current"], true, "{label}");
        assert_eq!(listed[0]["user_agent"], PHONE, "{label}");
        assert_eq!(listed[1]["current"], false, "{label}");
        let (phone_id, first_id) = (listed[0]["id"].clone(), listed[1]["id"].clone());
        // Refreshing uses the first session, so it becomes the most recently used.
        status_is(&app, &refresh(&app, &first_refresh).await, StatusCode::OK);
        let listed = sessions(&app, &phone_access).await;
        let ids: Vec<&Value> = listed.iter().map(|s| &s["id"]).collect();
        assert_eq!(ids, [&first_id, &phone_id], "{}: {listed:?}", app.label());
        let current: Vec<&Value> = listed.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1, "{}: {listed:?}", app.label());
        assert_eq!(current[0]["id"], phone_id, "{}", app.label());
    }
}

#[tokio::test]
async fn ending_a_session_by_id_ends_its_tokens_and_unlists_it() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        let (_, other_access, other_refresh) = tokens(&v1_login(&app, "alice", PASSWORD).await);
        let other_id = current_session(&app, &other_access).await;
        let path = format!("/v1/sessions/{other_id}");

        let reply = app.call(Method::DELETE, &path, None, Some(&access)).await;

        status_is(&app, &reply, StatusCode::NO_CONTENT);
        assert_token_ended(&app, &other_access, "the ended session's token").await;
        status_is(&app, &refresh(&app, &other_refresh).await, UNAUTHORIZED);
        let listed = sessions(&app, &access).await;
        assert_eq!(listed.len(), 1, "{}: {listed:?}", app.label());
        assert_ne!(listed[0]["id"], other_id, "{}", app.label());
        assert_token_works(&app, &access, "the caller's token").await;
        let again = app.call(Method::DELETE, &path, None, Some(&access)).await;
        status_is(&app, &again, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn ending_another_users_or_an_unknown_session_is_not_found() {
    for app in apps().await {
        let (_, alice, _) = v1_register(&app, "alice").await;
        let (_, bob, _) = v1_register(&app, "bob").await;
        let bobs_session = current_session(&app, &bob).await;

        for id in [bobs_session.to_string().as_str(), "999999", "abc", "-1"] {
            let path = format!("/v1/sessions/{id}");
            let reply = app.call(Method::DELETE, &path, None, Some(&alice)).await;

            refused(&app, &reply, StatusCode::NOT_FOUND, "Session not found");
            assert_eq!(reply.code(), "session_not_found", "{} {id}", app.label());
        }
        assert_token_works(&app, &bob, "bob's token").await;
    }
}

#[tokio::test]
async fn a_v1_token_works_on_the_compatibility_faces() {
    for app in apps().await {
        let (_, access, _) = v1_register(&app, "alice").await;
        let (bob, _, _) = v1_register(&app, "bob").await;

        let message = json!({"recipient_id": bob, "content": "hi"});
        let sent = app.post("/send", message, Some(&access)).await;
        let listed = app.get("/messages/", Some(&access)).await;

        status_is(&app, &sent, StatusCode::OK);
        status_is(&app, &listed, StatusCode::OK);
        let count = listed.body.as_array().map(Vec::len);
        assert_eq!(count, Some(1), "{}: {}", app.label(), listed.body);
    }
}

#[tokio::test]
async fn a_compatibility_token_works_on_v1() {
    for app in apps().await {
        let (chat_id, chat_token) = app.chat_user("carol").await;
        let message_token = app.message_user("dave@example.com").await;

        let chat = app.get("/v1/users/me", Some(&chat_token)).await;
        let message = app.get("/v1/users/me", Some(&message_token)).await;

        status_is(&app, &chat, StatusCode::OK);
        assert_eq!(chat.body["id"], chat_id, "{}", app.label());
        assert_eq!(chat.body["username"], "carol", "{}", app.label());
        status_is(&app, &message, StatusCode::OK);
        assert_eq!(message.body["email"], "dave@example.com", "{}", app.label());
    }
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_hashes() {
    for app in apps().await {
        let (_, _, first) = v1_register(&app, "alice").await;
        let (_, _, second) = tokens(&refresh(&app, &first).await);

        let stored = stored_refresh_hashes(&app).await;

        assert_eq!(stored.len(), 2, "{}: {stored:?}", app.label());
        for hash in &stored {
            assert!(hash != &first && hash != &second, "{}: {hash}", app.label());
            let hex = hash.chars().all(|c| c.is_ascii_hexdigit());
            assert!(hash.len() == 64 && hex, "{}: {hash}", app.label());
        }
    }
}

#[tokio::test]
async fn a_well_signed_token_without_its_session_is_refused() {
    for app in apps().await {
        let (alice, _, _) = v1_register(&app, "alice").await;
        let (_, bob, _) = v1_register(&app, "bob").await;
        let bobs_session = current_session(&app, &bob).await;

        let no_session = forged_token(alice, 999_999);
        let someone_elses = forged_token(alice, bobs_session);

        assert_token_ended(&app, &no_session, "a token for no session").await;
        assert_token_ended(&app, &someone_elses, "a token for bob's session").await;
    }
}
