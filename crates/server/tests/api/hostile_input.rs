//! Hostile input on both compatibility faces: awkward text round-trips exactly, and bad bodies,
//! forged tokens and absurd numbers get a clear 4xx JSON error, never a 500 or a partial write.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, apps, test_config};

const SECRET: &[u8] = b"a-test-secret-that-is-at-least-32-bytes";

/// Two chat-service users, alice and bob; requests go out as alice.
struct Pair<'a> {
    app: &'a TestApp,
    alice: i64,
    token: String,
    bob: i64,
}

impl<'a> Pair<'a> {
    async fn new(app: &'a TestApp) -> Self {
        let (alice, token) = app.chat_user("alice").await;
        let (bob, _) = app.chat_user("bob").await;
        Self {
            app,
            alice,
            token,
            bob,
        }
    }

    /// Sends `body` as `application/json` text, not checked to be JSON.
    async fn send(&self, method: Method, path: &str, body: Option<&str>) -> Reply {
        let (client, url) = (&self.app.client, self.app.url(path));
        let mut request = client.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.header("content-type", "application/json");
            request = request.body(body.to_owned());
        }
        Reply::read(request.send().await.unwrap()).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(&body.to_string())).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// Face 2's page of alice and bob's conversation, newest first.
    async fn history(&self) -> Value {
        let reply = self.get(&format!("/messages?peer_id={}", self.bob)).await;
        let context = self.label();
        assert_eq!(reply.status, StatusCode::OK, "{context}: {}", reply.body);
        reply.body
    }

    /// How many messages alice and bob's conversation holds.
    async fn stored(&self) -> i64 {
        self.history().await["total"].as_i64().unwrap()
    }

    fn label(&self) -> String {
        self.app.label()
    }

    /// Runs a table of `METHOD path | body | status | expect` rows (`-` for no body, `{bob}`
    /// for bob's id). `expect` is the `loc` (dot-joined) or the `type` of an entry of a 422's
    /// FastAPI `detail` list, or the `code` of any other error.
    /// A 200 row must be an empty history page. No reply may echo the rejected `12345678`.
    async fn check_table(&self, table: &str) {
        let rows = table.lines().map(str::trim).filter(|r| !r.is_empty());
        for row in rows.map(|r| r.replace("{bob}", &self.bob.to_string())) {
            let cells: Vec<&str> = row.split(" | ").map(str::trim).collect();
            let (method, path) = cells[0].split_once(' ').unwrap();
            let body = Some(cells[1]).filter(|b| *b != "-");
            let status = StatusCode::from_bytes(cells[2].as_bytes()).unwrap();

            let reply = self.send(method.parse().unwrap(), path, body).await;

            let context = format!("{} {row}", self.label());
            match (status, cells.get(3)) {
                (StatusCode::OK, _) => {
                    assert_eq!(reply.status, status, "{context}: {}", reply.body);
                    assert_eq!(reply.body["messages"], json!([]), "{context}");
                }
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)) => {
                    assert_field_error(&reply, field, &context);
                }
                (_, expect) => {
                    assert_error(&reply, status, &context);
                    let code = expect.copied().unwrap_or(reply.code());
                    assert_eq!(reply.code(), code, "{context}");
                }
            }
            assert!(!reply.body.to_string().contains("12345678"), "{context}");
        }
    }
}

/// The reply has `status` and a JSON error body: the standard one, or on a 422 FastAPI's
/// (`detail` a list of entries), both with a `code`.
fn assert_error(reply: &Reply, status: StatusCode, context: &str) {
    assert_eq!(reply.status, status, "{context}: {}", reply.body);
    let entries = reply.body["detail"].as_array();
    let detail = match entries {
        Some(entries) => status == StatusCode::UNPROCESSABLE_ENTITY && !entries.is_empty(),
        None => !reply.detail().is_empty(),
    };
    let is_json_error = detail && !reply.code().is_empty();
    assert!(
        is_json_error,
        "{context}: not a JSON error body: {}",
        reply.body
    );
}

/// A 422 in FastAPI's shape with an entry at `expect` (its dot-joined `loc`) or of that type.
fn assert_field_error(reply: &Reply, expect: &str, context: &str) {
    assert_error(reply, StatusCode::UNPROCESSABLE_ENTITY, context);
    let entries = reply.body["detail"].as_array().cloned().unwrap_or_default();
    let locs = reply.locs();
    let named = locs.iter().any(|loc| loc == expect) || entries.iter().any(|e| e["type"] == expect);
    assert!(named, "{context}: no entry for {expect}: {}", reply.body);
}

fn tricky_contents() -> Vec<String> {
    let texts = [
        "héllo wörld, ünïcödé ✓ 你好 こんにちは",
        "👨‍👩‍👧‍👦 👍🏽 🏳️‍🌈 👩🏿‍💻 family, thumbs, flag, coder",
        "مرحبا بالعالم \u{202E}שלום עולם\u{202C} end",
        r#"quotes ' " ` and backslashes \ \\ \n \u0041 \"#,
        "'); DROP TABLE users; --",
        "<script>alert(1)</script>",
        "line one\nline two\r\n\ttabbed\u{b}\u{c}",
        "   spaces kept at both ends   ",
    ];
    let mut contents: Vec<String> = texts.map(String::from).into();
    contents.push("😀".repeat(1999) + "🏽");
    contents
}

#[tokio::test]
async fn content_round_trips_exactly_through_both_faces() {
    for app in apps().await {
        let p = Pair::new(&app).await;
        let carol = app.message_user("carol@example.com").await;
        for content in tricky_contents() {
            let context = format!("{} {content:?}", app.label());

            let to_bob = json!({"recipient_id": p.bob, "content": content});
            let sent = p.post("/send", to_bob).await;
            let to_alice = json!({"recipient_id": p.alice, "content": content});
            let face1 = app.post("/messages/", to_alice, Some(&carol)).await;
            let history = p.history().await;
            let listed = app.get("/messages/", Some(&carol)).await;

            assert_eq!(sent.status, StatusCode::OK, "{context}: {}", sent.body);
            assert_eq!(sent.body["content"], content, "{context}");
            assert_eq!(face1.status, StatusCode::OK, "{context}: {}", face1.body);
            assert_eq!(history["messages"][0]["content"], content, "{context}");
            let last = listed.body.as_array().and_then(|l| l.last()).cloned();
            assert_eq!(last.unwrap_or_default()["content"], content, "{context}");
        }
    }
}

#[tokio::test]
async fn a_nul_character_is_refused_with_422_and_stores_nothing() {
    for app in apps().await {
        let p = Pair::new(&app).await;
        let ok = json!({"recipient_id": p.bob, "content": "ok"});
        let id = p.post("/send", ok).await.body["id"].clone();

        let table = r#"
            POST /send         | {"recipient_id": {bob}, "content": "a\u0000b"} | 422 | body
            POST /messages/    | {"recipient_id": {bob}, "content": "\u0000"}  | 422 | body
            PUT /messages/{id} | {"content": "a\u0000b"}                      | 422 | body
        "#;
        p.check_table(&table.replace("{id}", &id.to_string())).await;

        let history = p.history().await;
        assert_eq!(history["total"], 1, "{}", app.label());
        assert_eq!(history["messages"][0]["content"], "ok", "{}", app.label());
    }
}

#[tokio::test]
async fn malformed_json_and_bad_escapes_are_a_422_as_fastapi_says_and_store_nothing() {
    for app in apps().await {
        let p = Pair::new(&app).await;

        p.check_table(
            r#"
            POST /register      | {"username":                                       | 422 | json_invalid
            POST /login         | {username: "alice"}                                | 422 | json_invalid
            POST /auth/register | {"email": "a@x.io",}                               | 422 | json_invalid
            POST /auth/login    | {"email": 'a@x.io'}                                | 422 | json_invalid
            POST /send          | {"content": "unterminated}                         | 422 | json_invalid
            POST /send          | {"recipient_id": {bob}, "content": "hi"} x         | 422 | json_invalid
            POST /messages/     | {"recipient_id": {bob}, "content": "a"}{}          | 422 | json_invalid
            POST /send          | {"recipient_id": {bob}, "content": "\ud800"}       | 422 | json_invalid
            POST /send          | {"recipient_id": {bob}, "content": "x\udc00y"}     | 422 | json_invalid
            POST /send          | {"recipient_id": {bob}, "content": "\ud800\u0041"} | 422 | json_invalid
            POST /send          | {"recipient_id": {bob}, "content": "\x41"}         | 422 | json_invalid
            POST /messages/     | {"recipient_id": {bob}, "content": "\ud800"}       | 422 | json_invalid
            POST /messages/     | {"recipient_id": {bob}, "content": "\u12"}         | 422 | json_invalid
            PUT /messages/1     | {"content": "\udfff"}                              | 422 | json_invalid
            "#,
        )
        .await;
        let deep = format!(r#"{{"x": {}{}}}"#, "[".repeat(5000), "]".repeat(5000));
        let reply = p.send(Method::POST, "/send", Some(&deep)).await;

        assert!(reply.status.is_client_error(), "{}: nesting", app.label());
        assert_error(&reply, reply.status, &app.label());
        assert_eq!(p.stored().await, 0, "{}", app.label());
    }
}

#[tokio::test]
async fn wrong_types_are_a_422_naming_the_field_without_echoing_the_value() {
    for app in apps().await {
        let p = Pair::new(&app).await;

        p.check_table(
            r#"
            POST /send          | {"recipient_id": {bob}, "content": 123}      | 422 | body.content
            POST /send          | {"recipient_id": true, "content": "hi"}      | 422 | body.recipient_id
            POST /send          | {"recipient_id": 1.5, "content": "hi"}       | 422 | body.recipient_id
            POST /send          | {"recipient_id": {bob}}                      | 422 | body.content
            POST /messages/     | {"recipient_id": [{bob}], "content": "hi"}   | 422 | body.recipient_id
            POST /messages/     | {"recipient_id": {bob}, "content": null}     | 422 | body.content
            POST /register      | {"username": "carol", "email": "c@x.io", "password": 12345678} | 422 | body.password
            POST /login         | {"username": "alice", "password": 12345678}  | 422 | body.password
            POST /auth/register | {"email": "d@x.io", "password": 12345678}    | 422 | body.password
            POST /auth/login    | {"email": "e@x.io", "password": 12345678}    | 422 | body.password
            "#,
        )
        .await;

        assert_eq!(p.stored().await, 0, "{}", app.label());
    }
}

#[tokio::test]
async fn a_body_of_another_type_is_no_object_and_one_of_no_type_is_read_as_json() {
    for app in apps().await {
        let p = Pair::new(&app).await;
        let body = format!(r#"{{"recipient_id": {}, "content": "hi"}}"#, p.bob);
        let token = Some(p.token.as_str());

        for content_type in ["text/plain", "application/x-www-form-urlencoded", "jsonx"] {
            let reply = app.post_raw("/send", content_type, body.clone().into(), token);
            let reply = reply.await;

            let context = format!("{} {content_type}", app.label());
            assert_field_error(&reply, "body", &context);
            assert_eq!(reply.body["detail"][0]["type"], "model_attributes_type");
        }
        assert_eq!(p.stored().await, 0, "{}", app.label());
        let charset = "application/json; charset=utf-8";
        let accepted = app
            .post_raw("/send", charset, body.clone().into(), token)
            .await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", app.label());
        let bare = app.client.post(app.url("/send")).bearer_auth(&p.token);
        let untyped = Reply::read(bare.body(body).send().await.unwrap()).await;
        assert_eq!(untyped.status, StatusCode::OK, "{}", app.label());
        assert_eq!(p.stored().await, 2, "{}", app.label());
    }
}

#[tokio::test]
async fn an_empty_body_or_a_non_object_is_a_4xx_json_error() {
    for app in apps().await {
        let p = Pair::new(&app).await;

        for path in ["/register", "/auth/login", "/send", "/messages/"] {
            let empty = p.send(Method::POST, path, Some("")).await;
            assert!(empty.status.is_client_error(), "{} {path}", app.label());
            assert_error(&empty, empty.status, &app.label());
            for body in ["[]", "null", r#""text""#, "42", "true", "{}"] {
                let reply = p.send(Method::POST, path, Some(body)).await;

                let context = format!("{} {path} {body}", app.label());
                assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, &context);
            }
        }
        assert_eq!(p.stored().await, 0, "{}", app.label());
    }
}

#[tokio::test]
async fn a_positional_array_is_not_read_as_an_object() {
    for app in apps().await {
        let p = Pair::new(&app).await;

        let register = json!(["mallory", "mallory@example.com", PASSWORD]);
        let register = app.post("/register", register, None).await;
        let send = p.post("/send", json!([p.bob, "hi"])).await;

        assert_error(&register, StatusCode::UNPROCESSABLE_ENTITY, &app.label());
        assert_error(&send, StatusCode::UNPROCESSABLE_ENTITY, &app.label());
        assert_eq!(p.stored().await, 0, "{}", app.label());
    }
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_stores_nothing() {
    for app in apps().await {
        let p = Pair::new(&app).await;
        let huge = json!({"recipient_id": p.bob, "content": "x".repeat(100 * 1024)});
        let too_long = json!({"recipient_id": p.bob, "content": "y".repeat(2001)});

        for path in ["/send", "/messages/", "/register", "/auth/register"] {
            let reply = p.post(path, huge.clone()).await;

            let context = format!("{} {path}", app.label());
            assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, &context);
            assert_eq!(reply.code(), "payload_too_large", "{context}");
        }
        let reply = p.post("/send", too_long).await;
        assert_field_error(&reply, "body.content", &app.label());
        assert_eq!(p.stored().await, 0, "{}", app.label());
    }
}

#[tokio::test]
async fn the_body_limit_follows_the_configuration() {
    for db in missive_store::testing::TestDb::all().await {
        let app = TestApp::start(db, |db| {
            let mut config = test_config(db);
            config.max_body_bytes = 1024;
            config
        })
        .await;
        let p = Pair::new(&app).await;

        let body = json!({"recipient_id": p.bob, "content": "z".repeat(1500)});
        let reply = p.post("/send", body).await;

        assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, &app.label());
        assert_eq!(p.stored().await, 0, "{}", app.label());
    }
}

#[tokio::test]
async fn an_unknown_route_is_a_404_and_a_wrong_method_a_405_both_json() {
    for app in apps().await {
        let p = Pair::new(&app).await;

        p.check_table(
            r#"
            GET /nope           | - | 404 | not_found
            POST /auth/nope     | - | 404 | not_found
            GET /messages/1/x   | - | 404 | not_found
            DELETE /send        | - | 405 | method_not_allowed
            GET /register       | - | 405 | method_not_allowed
            GET /login          | - | 405 | method_not_allowed
            GET /auth/login     | - | 405 | method_not_allowed
            PATCH /messages/    | - | 405 | method_not_allowed
            DELETE /messages/1  | - | 405 | method_not_allowed
            "#,
        )
        .await;
    }
}

fn sign(claims: &Value, algorithm: Algorithm, key: &[u8]) -> String {
    let key = EncodingKey::from_secret(key);
    jsonwebtoken::encode(&Header::new(algorithm), claims, &key).unwrap()
}

/// Tokens that must not authenticate anyone, though most name a real user (`alice`).
fn forged_tokens(alice: i64, good: &str) -> Vec<String> {
    let now = chrono::Utc::now().timestamp();
    let (hour, id) = (now + 3600, json!(alice.to_string()));
    let claims = |sub: &Value, exp: i64| json!({"sub": sub, "iat": now, "exp": exp});
    let hs256 = |sub: &Value, exp: i64| sign(&claims(sub, exp), Algorithm::HS256, SECRET);
    let parts: Vec<&str> = good.split('.').collect();
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let flipped = if parts[2].starts_with('A') { 'B' } else { 'A' };
    let other_key = b"another-key-that-is-at-least-32-bytes";
    vec![
        sign(&claims(&id, hour), Algorithm::HS256, other_key),
        sign(&claims(&id, hour), Algorithm::HS512, SECRET),
        format!("{none}.{}.", parts[1]),
        format!("{none}.{}.{}", parts[1], parts[2]),
        format!("{}.{}.{flipped}{}", parts[0], parts[1], &parts[2][1..]),
        hs256(&id, now - 3600),
        hs256(&json!("alice"), hour),
        hs256(&json!(alice), hour),
        hs256(&json!("99999999999999999999"), hour),
        hs256(&json!("999999"), hour),
        sign(&json!({"sub": id, "iat": now}), Algorithm::HS256, SECRET),
        good[..good.len() / 2].to_owned(),
        "not.a.jwt".into(),
        "...".into(),
    ]
}

async fn get_with_authorization(app: &TestApp, path: &str, value: &[u8]) -> Reply {
    let value = HeaderValue::from_bytes(value).unwrap();
    let request = app.client.get(app.url(path)).header(AUTHORIZATION, value);
    Reply::read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn forged_tokens_and_garbage_credentials_are_refused_with_401() {
    for app in apps().await {
        let p = Pair::new(&app).await;
        let history = format!("/messages?peer_id={}", p.bob);
        let forged = forged_tokens(p.alice, &p.token).into_iter();
        let mut headers: Vec<Vec<u8>> = forged.map(|t| format!("Bearer {t}").into()).collect();
        let garbage = ["Bearer ", "Bearer", "Basic xyz", "", "Bearer \u{e9}"];
        headers.extend(garbage.map(|h| h.as_bytes().to_vec()));
        headers.push(format!("Bearer {}", "A".repeat(10 * 1024)).into_bytes());
        headers.push(b"Bearer \xff\xfe".to_vec());

        for header in headers {
            for route in [history.as_str(), "/messages/"] {
                let reply = get_with_authorization(&app, route, &header).await;

                let shown = String::from_utf8_lossy(&header[..header.len().min(80)]);
                let context = format!("{} {route} {shown}", app.label());
                assert_error(&reply, StatusCode::UNAUTHORIZED, &context);
                let known = ["Invalid token", "Not authenticated"].contains(&reply.detail());
                assert!(known, "{context}: {}", reply.body);
            }
        }
        let good = format!("Bearer {}", p.token);
        let control = get_with_authorization(&app, &history, good.as_bytes()).await;
        assert_eq!(control.status, StatusCode::OK, "{}", app.label());
    }
}

#[tokio::test]
async fn huge_negative_and_malformed_numbers_are_4xx_never_500() {
    for app in apps().await {
        let p = Pair::new(&app).await;

        p.check_table(
            r#"
            POST /send      | {"recipient_id": 99999999999999999999, "content": "hi"}   | 422 | body.recipient_id
            POST /send      | {"recipient_id": -99999999999999999999, "content": "hi"}  | 422 | body.recipient_id
            POST /send      | {"recipient_id": 1e3, "content": "hi"}                    | 422 | body.recipient_id
            POST /send      | {"recipient_id": -1, "content": "hi"}                     | 404 | recipient_not_found
            POST /send      | {"recipient_id": 0, "content": "hi"}                      | 404 | recipient_not_found
            POST /send      | {"recipient_id": 9223372036854775807, "content": "hi"}    | 404 | recipient_not_found
            POST /messages/ | {"recipient_id": "99999999999999999999", "content": "hi"} | 404 | recipient_not_found
            POST /messages/ | {"recipient_id": "-1", "content": "hi"}                   | 404 | recipient_not_found
            GET /messages?peer_id={bob}&limit=abc                  | - | 422 | query.limit
            GET /messages?peer_id={bob}&limit=0                    | - | 422 | query.limit
            GET /messages?peer_id={bob}&limit=-5                   | - | 422 | query.limit
            GET /messages?peer_id={bob}&limit=99999999999999999999 | - | 422 | query.limit
            GET /messages?peer_id={bob}&offset=-1                  | - | 422 | query.offset
            GET /messages?peer_id={bob}&offset=1.5                 | - | 422 | query.offset
            GET /messages?peer_id=abc                              | - | 422 | query.peer_id
            GET /messages?peer_id=99999999999999999999             | - | 422 | query.peer_id
            GET /messages                                          | - | 422 | query.peer_id
            GET /messages/?limit=abc                               | - | 422 | query.limit
            GET /messages/?offset=-1                               | - | 422 | query.offset
            GET /messages?peer_id=-1                               | - | 200
            GET /messages?peer_id=0                                | - | 200
            GET /messages?peer_id={bob}&offset=9223372036854775807 | - | 200
            PUT /messages/99999999999999999999 | {"content": "x"} | 404 | message_not_found
            PUT /messages/-1                   | {"content": "x"} | 404 | message_not_found
            PUT /messages/abc                  | {"content": "x"} | 404 | message_not_found
            PUT /messages/1.5                  | {"content": "x"} | 404 | message_not_found
            PUT /messages/%20                  | {"content": "x"} | 404 | message_not_found
            PUT /messages/%00                  | {"content": "x"} | 404 | message_not_found
            "#,
        )
        .await;
    }
}

#[tokio::test]
async fn malformed_usernames_and_emails_are_refused_with_422() {
    for app in apps().await {
        let lookalikes = ["\u{430}lice", "\u{ff41}lice", "alice\u{200b}"];
        let too_long = "a".repeat(51);
        let others = ["alice smith", " alice", "ab", too_long.as_str()];
        let long_email = format!("{}@example.com", "a".repeat(288));
        let emails = [&long_email, "not-an-email", "a@b@c", ""];

        for username in lookalikes.into_iter().chain(others) {
            let body = json!({"username": username, "email": "u@x.io", "password": PASSWORD});
            let reply = app.post("/register", body, None).await;
            let context = format!("{} {username:?}", app.label());
            assert_field_error(&reply, "body.username", &context);
        }
        for email in emails {
            let context = format!("{} {email:?}", app.label());
            let chat = json!({"username": "erin", "email": email, "password": PASSWORD});
            let face1 = json!({"email": email, "password": PASSWORD});
            let chat = app.post("/register", chat, None).await;
            let face1 = app.post("/auth/register", face1, None).await;
            assert_field_error(&chat, "body.email", &context);
            assert_field_error(&face1, "body.email", &context);
        }
    }
}

#[tokio::test]
async fn nul_characters_in_account_fields_are_refused_with_422_not_500() {
    for app in apps().await {
        let p = Pair::new(&app).await;

        p.check_table(
            r#"
            POST /login      | {"username": "alice\u0000", "password": "correct-horse-battery"}           | 422 | body
            POST /auth/login | {"email": "alice\u0000@example.com", "password": "correct-horse-battery"} | 422 | body
            POST /login      | {"username": "alice", "password": "correct\u0000horse"}                    | 422 | body
            POST /auth/login | {"email": "alice@example.com", "password": "\u0000"}                       | 422 | body
            POST /register   | {"username": "ali\u0000ce", "email": "u@x.io", "password": "long-password"} | 422 | body
            POST /auth/register | {"email": "a\u0000b@x.io", "password": "long-password"}                 | 422 | body
            "#,
        )
        .await;
    }
}

#[tokio::test]
async fn no_response_ever_contains_a_password_hash() {
    for app in apps().await {
        let p = Pair::new(&app).await;
        let carol = app.message_user("carol@example.com").await;
        let login = json!({"username": "alice", "password": PASSWORD});
        let bad_login = json!({"email": "alice@example.com", "password": "wrong-password"});
        let again = json!({"username": "alice", "email": "a@x.io", "password": PASSWORD});
        let message = json!({"recipient_id": p.bob, "content": "hi"});
        let edit = json!({"content": "edited"});

        let replies = [
            app.post("/login", login, None).await,
            app.post("/auth/login", bad_login, None).await,
            app.post("/register", again, None).await,
            p.post("/send", message.clone()).await,
            app.post("/messages/", message, Some(&carol)).await,
            p.get(&format!("/messages?peer_id={}", p.bob)).await,
            p.get("/messages/").await,
            app.put("/messages/1", edit, Some(&p.token)).await,
            app.get("/openapi.json", None).await,
        ];

        for reply in replies {
            let text = format!("{} {:?}", reply.body, reply.headers);
            assert!(!text.contains("$argon2"), "{}: {text}", app.label());
            assert!(!text.contains("password_hash"), "{}: {text}", app.label());
        }
    }
}
