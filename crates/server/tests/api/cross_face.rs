//! One user store and one message store behind both compatibility faces: tokens, logins,
//! message ids, edits and e-mail uniqueness carry across the message service (face 1) and the
//! chat service (face 2).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, apps};

const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes";

/// The user id a token names (face 1 answers a registration with a token only).
fn user_id_of(token: &str) -> i64 {
    let key = DecodingKey::from_secret(SECRET.as_bytes());
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["missive"]);
    let data =
        jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a token the app issued");
    data.claims["sub"].as_str().unwrap().parse().unwrap()
}

/// Registers on face 1; returns (user id, token).
async fn face1_user(app: &TestApp, email: &str) -> (i64, String) {
    let token = app.message_user(email).await;
    (user_id_of(&token), token)
}

/// Face 2's history between the token's user and `peer`, newest first.
async fn chat_history(app: &TestApp, token: &str, peer: i64) -> Vec<Value> {
    let reply = app
        .get(&format!("/messages?peer_id={peer}&limit=100"), Some(token))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}: {}",
        app.label(),
        reply.body
    );
    reply.body["messages"].as_array().unwrap().clone()
}

/// Face 1's list of everything the token's user sent or received, oldest first.
async fn face1_list(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = app.get("/messages/", Some(token)).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}: {}",
        app.label(),
        reply.body
    );
    reply.body.as_array().unwrap().clone()
}

async fn send(app: &TestApp, token: &str, to: i64, content: &str) -> Reply {
    let reply = app
        .post(
            "/send",
            json!({"recipient_id": to, "content": content}),
            Some(token),
        )
        .await;
    assert_ok(&reply, app, "POST /send");
    reply
}

fn assert_ok(reply: &Reply, app: &TestApp, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{} {what}: {}",
        app.label(),
        reply.body
    );
}

#[tokio::test]
async fn a_message_service_token_works_on_the_chat_service_routes() {
    for app in apps().await {
        let (alice, registered) = face1_user(&app, "alice@example.com").await;
        let (bob, _) = app.chat_user("bob").await;
        let login = app
            .post(
                "/auth/login",
                json!({"email": "alice@example.com", "password": PASSWORD}),
                None,
            )
            .await;
        assert_ok(&login, &app, "face 1 login");
        let logged_in = login.body["access_token"].as_str().unwrap().to_owned();

        for token in [&registered, &logged_in] {
            let sent = app
                .post(
                    "/send",
                    json!({"recipient_id": bob, "content": "hi from face 1"}),
                    Some(token),
                )
                .await;
            assert_ok(&sent, &app, "POST /send with a face-1 token");
            assert_eq!(sent.body["sender_id"], alice, "{}", app.label());
        }
        let history = chat_history(&app, &logged_in, bob).await;

        assert_eq!(history.len(), 2, "{}: {history:?}", app.label());
        assert!(history.iter().all(|m| m["sender_id"] == alice));
    }
}

#[tokio::test]
async fn a_chat_service_token_works_on_the_message_service_routes() {
    for app in apps().await {
        let (alice, _) = face1_user(&app, "alice@example.com").await;
        let (bob, bob_token) = app.chat_user("bob").await;

        let sent = app
            .post(
                "/messages/",
                json!({"recipient_id": alice.to_string(), "content": "hi from face 2"}),
                Some(&bob_token),
            )
            .await;
        assert_ok(&sent, &app, "POST /messages/ with a face-2 token");
        let listed = face1_list(&app, &bob_token).await;
        let id = listed[0]["id"].as_str().unwrap().to_owned();
        let edited = app
            .put(
                &format!("/messages/{id}"),
                json!({"content": "edited"}),
                Some(&bob_token),
            )
            .await;

        assert_eq!(sent.body["message"], "Message sent successfully");
        assert_eq!(listed.len(), 1, "{}: {listed:?}", app.label());
        assert_eq!(listed[0]["sender_id"], bob.to_string(), "{}", app.label());
        assert_ok(&edited, &app, "PUT /messages/{id} with a face-2 token");
        assert_eq!(edited.body["content"], "edited", "{}", app.label());
    }
}

#[tokio::test]
async fn a_chat_service_user_logs_in_on_the_message_service_with_email_and_password() {
    for app in apps().await {
        let (carol, _) = app.chat_user("carol").await;

        let login = |email: &'static str, password: &'static str| {
            app.post(
                "/auth/login",
                json!({"email": email, "password": password}),
                None,
            )
        };
        let exact = login("carol@example.com", PASSWORD).await;
        let other_case = login("Carol@Example.COM", PASSWORD).await;
        let wrong = login("carol@example.com", "not-the-password").await;

        assert_ok(&exact, &app, "face 1 login of a face-2 user");
        assert_eq!(exact.body["token_type"], "bearer", "{}", app.label());
        assert_eq!(
            user_id_of(exact.body["access_token"].as_str().unwrap()),
            carol
        );
        assert_ok(&other_case, &app, "face 1 login, e-mail in another case");
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", app.label());
        assert_eq!(wrong.detail(), "Invalid credentials", "{}", app.label());
    }
}

#[tokio::test]
async fn a_message_service_user_logs_in_on_the_chat_service_with_the_derived_username() {
    for app in apps().await {
        let (dave, _) = face1_user(&app, "dave@example.com").await;

        let login = app
            .post(
                "/login",
                json!({"username": "dave", "password": PASSWORD}),
                None,
            )
            .await;

        assert_ok(&login, &app, "face 2 login of a face-1 user");
        assert_eq!(
            user_id_of(login.body["access_token"].as_str().unwrap()),
            dave
        );
    }
}

#[tokio::test]
async fn a_message_sent_on_the_chat_service_has_the_same_id_on_the_message_service() {
    for app in apps().await {
        let (alice, alice_token) = face1_user(&app, "alice@example.com").await;
        let (bob, bob_token) = app.chat_user("bob").await;

        let sent = app
            .post(
                "/send",
                json!({"recipient_id": alice, "content": "same id everywhere"}),
                Some(&bob_token),
            )
            .await;
        assert_ok(&sent, &app, "POST /send");
        let id = sent.body["id"].as_i64().expect("an integer id");
        let listed = face1_list(&app, &alice_token).await;

        assert_eq!(listed.len(), 1, "{}: {listed:?}", app.label());
        let message = &listed[0];
        assert_eq!(message["id"], id.to_string(), "{}", app.label());
        assert_eq!(message["sender_id"], bob.to_string(), "{}", app.label());
        assert_eq!(
            message["recipient_id"],
            alice.to_string(),
            "{}",
            app.label()
        );
        assert_eq!(message["content"], "same id everywhere", "{}", app.label());
    }
}

#[tokio::test]
async fn a_message_sent_on_the_message_service_has_the_same_id_on_the_chat_service() {
    for app in apps().await {
        let (alice, alice_token) = face1_user(&app, "alice@example.com").await;
        let (bob, bob_token) = app.chat_user("bob").await;

        let sent = app
            .post(
                "/messages/",
                json!({"recipient_id": bob, "content": "from face 1"}),
                Some(&alice_token),
            )
            .await;
        assert_ok(&sent, &app, "POST /messages/");
        let listed = face1_list(&app, &alice_token).await;
        let history = chat_history(&app, &bob_token, alice).await;

        assert_eq!(history.len(), 1, "{}: {history:?}", app.label());
        let id = history[0]["id"].as_i64().expect("an integer id");
        assert_eq!(listed[0]["id"], id.to_string(), "{}", app.label());
        assert_eq!(history[0]["sender_id"], alice, "{}", app.label());
        assert_eq!(history[0]["recipient_id"], bob, "{}", app.label());
        assert_eq!(history[0]["content"], "from face 1", "{}", app.label());
    }
}

#[tokio::test]
async fn an_edit_on_the_message_service_shows_in_the_chat_service_history_in_place() {
    for app in apps().await {
        let (alice, alice_token) = face1_user(&app, "alice@example.com").await;
        let (bob, bob_token) = app.chat_user("bob").await;
        let first = send(&app, &alice_token, bob, "first, with a typo").await;
        send(&app, &bob_token, alice, "second").await;
        send(&app, &alice_token, bob, "third").await;
        let first_id = first.body["id"].as_i64().unwrap();
        let before = chat_history(&app, &bob_token, alice).await;

        let edited = app
            .put(
                &format!("/messages/{first_id}"),
                json!({"content": "first, fixed"}),
                Some(&alice_token),
            )
            .await;
        let after = chat_history(&app, &bob_token, alice).await;

        assert_ok(&edited, &app, "PUT /messages/{id}");
        assert_eq!(edited.body["id"], first_id.to_string(), "{}", app.label());
        let ids = |page: &[Value]| page.iter().map(|m| m["id"].as_i64()).collect::<Vec<_>>();
        assert_eq!(ids(&after), ids(&before), "{}: order changed", app.label());
        assert_eq!(after[2]["id"], first_id, "{}", app.label());
        assert_eq!(after[2]["content"], "first, fixed", "{}", app.label());
        assert_eq!(after[0]["content"], "third", "{}", app.label());
        assert_eq!(after[1]["content"], "second", "{}", app.label());
    }
}

#[tokio::test]
async fn an_email_registered_on_the_chat_service_cannot_register_on_the_message_service() {
    for app in apps().await {
        app.chat_user("erin").await;

        for email in ["erin@example.com", "ERIN@Example.com"] {
            let reply = app
                .post(
                    "/auth/register",
                    json!({"email": email, "password": PASSWORD, "full_name": "Erin"}),
                    None,
                )
                .await;

            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{} {email}: {}",
                app.label(),
                reply.body
            );
            assert_eq!(
                reply.detail(),
                "Email already registered",
                "{}",
                app.label()
            );
            assert_eq!(reply.code(), "email_taken", "{}", app.label());
        }
    }
}

#[tokio::test]
async fn an_email_registered_on_the_message_service_cannot_register_on_the_chat_service() {
    for app in apps().await {
        face1_user(&app, "frank@example.com").await;

        for email in ["frank@example.com", "Frank@EXAMPLE.com"] {
            let reply = app
                .post(
                    "/register",
                    json!({"username": "frank_two", "email": email, "password": PASSWORD}),
                    None,
                )
                .await;

            assert_eq!(
                reply.status,
                StatusCode::CONFLICT,
                "{} {email}: {}",
                app.label(),
                reply.body
            );
            assert_eq!(reply.detail(), "Email already exists", "{}", app.label());
            assert_eq!(reply.code(), "email_taken", "{}", app.label());
        }
    }
}

#[tokio::test]
async fn a_message_service_email_whose_username_is_taken_on_the_chat_service_still_registers() {
    for app in apps().await {
        let (grace, _) = app.chat_user("grace").await;

        let (other, _) = face1_user(&app, "grace@elsewhere.org").await;
        let login = app
            .post(
                "/auth/login",
                json!({"email": "grace@elsewhere.org", "password": PASSWORD}),
                None,
            )
            .await;

        assert_ne!(other, grace, "{}", app.label());
        assert_ok(&login, &app, "face 1 login");
        assert_eq!(
            user_id_of(login.body["access_token"].as_str().unwrap()),
            other
        );
    }
}
