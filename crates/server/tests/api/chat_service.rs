//! Face 2, the "Chat Service": `/register`, `/login`, `/send` and `/messages`, held to its
//! README on every backend.

use chrono::DateTime;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, apps, keys, refused, status_is, strings};

async fn register(app: &TestApp, username: &str, email: &str, password: &str) -> Reply {
    let body = json!({"username": username, "email": email, "password": password});
    app.post("/register", body, None).await
}

async fn login(app: &TestApp, username: &str, password: &str) -> Reply {
    let body = json!({"username": username, "password": password});
    app.post("/login", body, None).await
}

async fn send(app: &TestApp, token: &str, recipient_id: i64, content: &str) -> Reply {
    let body = json!({"recipient_id": recipient_id, "content": content});
    app.post("/send", body, Some(token)).await
}

/// Sends and insists it worked.
async fn sent(app: &TestApp, token: &str, recipient_id: i64, content: &str) {
    let reply = send(app, token, recipient_id, content).await;
    status_is(app, &reply, StatusCode::OK);
}

/// The conversation with `peer`; `paging` is appended to the query string.
async fn history(app: &TestApp, token: &str, peer: i64, paging: &str) -> Reply {
    let path = format!("/messages?peer_id={peer}{paging}");
    app.get(&path, Some(token)).await
}

fn contents(page: &Reply) -> Vec<&str> {
    strings(&page.body["messages"], "content")
}

fn is_rfc3339(value: &Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    DateTime::parse_from_rfc3339(text).is_ok()
}

#[tokio::test]
async fn registering_answers_201_with_the_public_profile_and_no_password() {
    for app in apps().await {
        let at = app.label();

        let reply = register(&app, "alice", "alice@example.com", PASSWORD).await;

        status_is(&app, &reply, StatusCode::CREATED);
        let fields = ["created_at", "email", "id", "last_active", "username"];
        assert_eq!(keys(&reply.body), fields, "{at}");
        assert!(reply.body["id"].as_i64().is_some(), "{at}");
        assert_eq!(reply.body["username"], "alice", "{at}");
        assert_eq!(reply.body["email"], "alice@example.com", "{at}");
        assert!(is_rfc3339(&reply.body["created_at"]), "{at}");
        assert!(is_rfc3339(&reply.body["last_active"]), "{at}");
        let text = reply.body.to_string();
        assert!(!text.contains(PASSWORD) && !text.contains("argon2"), "{at}");
    }
}

#[tokio::test]
async fn a_taken_username_is_refused_whatever_its_case() {
    for app in apps().await {
        app.chat_user("alice").await;

        let same = register(&app, "alice", "other@example.com", PASSWORD).await;
        let other_case = register(&app, "ALICE", "other@example.com", PASSWORD).await;

        for reply in [&same, &other_case] {
            refused(&app, reply, StatusCode::CONFLICT, "Username already exists");
        }
    }
}

#[tokio::test]
async fn a_taken_email_is_refused_whatever_its_case() {
    for app in apps().await {
        app.chat_user("alice").await;

        let same = register(&app, "alice2", "alice@example.com", PASSWORD).await;
        let other_case = register(&app, "alice3", "Alice@EXAMPLE.com", PASSWORD).await;

        for reply in [&same, &other_case] {
            refused(&app, reply, StatusCode::CONFLICT, "Email already exists");
        }
    }
}

#[tokio::test]
async fn invalid_registration_fields_are_each_named_and_the_password_not_echoed() {
    for app in apps().await {
        let at = app.label();

        let reply = register(&app, "ab", "not-an-email", "hunter2").await;

        status_is(&app, &reply, StatusCode::UNPROCESSABLE_ENTITY);
        let locs = ["body.username", "body.email", "body.password"];
        assert_eq!(reply.locs(), locs, "{at}");
        assert!(!reply.body.to_string().contains("hunter2"), "{at}");
    }
}

#[tokio::test]
async fn field_lengths_are_accepted_at_their_limits_and_refused_past_them() {
    for app in apps().await {
        let refused = [
            ("a".repeat(51), "p".repeat(8), "username"),
            ("bob smith".into(), "p".repeat(8), "username"),
            ("bob".into(), "p".repeat(7), "password"),
            ("bob".into(), "p".repeat(129), "password"),
        ];
        for (username, password, field) in refused {
            let reply = register(&app, &username, "x@example.com", &password).await;

            status_is(&app, &reply, StatusCode::UNPROCESSABLE_ENTITY);
            let loc = format!("body.{field}");
            assert_eq!(reply.locs(), [loc], "{}", app.label());
        }
        let shortest = register(&app, "bob", "bob@example.com", &"p".repeat(8)).await;
        let longest = register(&app, &"b".repeat(50), "b@example.com", &"p".repeat(128)).await;
        status_is(&app, &shortest, StatusCode::CREATED);
        status_is(&app, &longest, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn login_answers_with_a_bearer_token_and_its_lifetime() {
    for app in apps().await {
        let at = app.label();
        let (bob_id, _) = app.chat_user("bob").await;

        let reply = login(&app, "bob", PASSWORD).await;

        status_is(&app, &reply, StatusCode::OK);
        let fields = ["access_token", "expires_in", "token_type"];
        assert_eq!(keys(&reply.body), fields, "{at}");
        assert_eq!(reply.body["token_type"], "bearer", "{at}");
        let expires_in = reply.body["expires_in"].as_u64();
        assert!(expires_in.is_some_and(|s| s > 0), "{at}: {}", reply.body);
        let token = reply.body["access_token"].as_str().unwrap();
        status_is(
            &app,
            &history(&app, token, bob_id, "").await,
            StatusCode::OK,
        );
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_refusal() {
    for app in apps().await {
        app.chat_user("bob").await;

        let wrong = login(&app, "bob", "not-the-password").await;
        let unknown = login(&app, "nobody", PASSWORD).await;

        for reply in [&wrong, &unknown] {
            refused(&app, reply, StatusCode::UNAUTHORIZED, "Invalid credentials");
        }
        assert_eq!(wrong.body, unknown.body, "{}", app.label());
    }
}

#[tokio::test]
async fn sending_answers_with_the_stored_message() {
    for app in apps().await {
        let at = app.label();
        let (alice_id, alice) = app.chat_user("alice").await;
        let (bob_id, _) = app.chat_user("bob").await;

        let reply = send(&app, &alice, bob_id, "Hi Bob!").await;

        status_is(&app, &reply, StatusCode::OK);
        let fields = ["content", "created_at", "id", "recipient_id", "sender_id"];
        assert_eq!(keys(&reply.body), fields, "{at}");
        assert!(reply.body["id"].as_i64().is_some(), "{at}");
        assert_eq!(reply.body["sender_id"], alice_id, "{at}");
        assert_eq!(reply.body["recipient_id"], bob_id, "{at}");
        assert_eq!(reply.body["content"], "Hi Bob!", "{at}");
        assert!(is_rfc3339(&reply.body["created_at"]), "{at}");
    }
}

#[tokio::test]
async fn the_sender_is_taken_from_the_token_and_never_from_the_body() {
    for app in apps().await {
        let at = app.label();
        let (alice_id, alice) = app.chat_user("alice").await;
        let (bob_id, bob) = app.chat_user("bob").await;
        let (carol_id, _) = app.chat_user("carol").await;

        let body = json!({"sender_id": carol_id, "recipient_id": bob_id, "content": "from?"});
        let reply = app.post("/send", body, Some(&alice)).await;

        status_is(&app, &reply, StatusCode::OK);
        assert_eq!(reply.body["sender_id"], alice_id, "{at}");
        let with_alice = history(&app, &bob, alice_id, "").await;
        assert_eq!(
            with_alice.body["messages"][0]["sender_id"], alice_id,
            "{at}"
        );
        let with_carol = history(&app, &bob, carol_id, "").await;
        assert_eq!(with_carol.body["total"], 0, "{at}");
    }
}

#[tokio::test]
async fn sending_to_an_unknown_recipient_is_not_found() {
    for app in apps().await {
        let (_, alice) = app.chat_user("alice").await;

        let reply = send(&app, &alice, 999_999, "anyone there?").await;

        status_is(&app, &reply, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn content_must_be_1_to_2000_characters_counted_as_characters() {
    for app in apps().await {
        let (_, alice) = app.chat_user("alice").await;
        let (bob_id, _) = app.chat_user("bob").await;

        let empty = send(&app, &alice, bob_id, "").await;
        let too_long = send(&app, &alice, bob_id, &"a".repeat(2001)).await;
        let emoji = send(&app, &alice, bob_id, &"😀".repeat(2000)).await;

        for reply in [&empty, &too_long] {
            status_is(&app, reply, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(reply.locs(), ["body.content"], "{}", app.label());
        }
        status_is(&app, &emoji, StatusCode::OK);
        assert_eq!(emoji.body["content"], "😀".repeat(2000), "{}", app.label());
    }
}

#[tokio::test]
async fn history_is_newest_first_and_only_the_conversation_with_the_peer() {
    for app in apps().await {
        let at = app.label();
        let (alice_id, alice) = app.chat_user("alice").await;
        let (bob_id, bob) = app.chat_user("bob").await;
        let (carol_id, carol) = app.chat_user("carol").await;
        sent(&app, &alice, bob_id, "one").await;
        sent(&app, &bob, alice_id, "two").await;
        sent(&app, &alice, carol_id, "to carol").await;
        sent(&app, &carol, bob_id, "carol to bob").await;
        sent(&app, &alice, bob_id, "three").await;

        let alices = history(&app, &alice, bob_id, "").await;
        let bobs = history(&app, &bob, alice_id, "").await;

        status_is(&app, &alices, StatusCode::OK);
        let fields = ["limit", "messages", "offset", "total"];
        assert_eq!(keys(&alices.body), fields, "{at}");
        assert_eq!(contents(&alices), ["three", "two", "one"], "{at}");
        assert_eq!(alices.body["total"], 3, "{at}");
        assert_eq!(alices.body["limit"], 5, "{at}");
        assert_eq!(alices.body["offset"], 0, "{at}");
        assert_eq!(bobs.body, alices.body, "{at}");
    }
}

#[tokio::test]
async fn history_pages_with_limit_and_offset_and_counts_the_whole_conversation() {
    for app in apps().await {
        let at = app.label();
        let (_, alice) = app.chat_user("alice").await;
        let (bob_id, _) = app.chat_user("bob").await;
        for n in 1..=7 {
            sent(&app, &alice, bob_id, &format!("m{n}")).await;
        }

        let default = history(&app, &alice, bob_id, "").await;
        let middle = history(&app, &alice, bob_id, "&limit=2&offset=2").await;
        let last = history(&app, &alice, bob_id, "&offset=6").await;
        let beyond = history(&app, &alice, bob_id, "&limit=100&offset=10").await;

        assert_eq!(contents(&default), ["m7", "m6", "m5", "m4", "m3"], "{at}");
        assert_eq!(contents(&middle), ["m5", "m4"], "{at}");
        assert_eq!(middle.body["limit"], 2, "{at}");
        assert_eq!(middle.body["offset"], 2, "{at}");
        assert_eq!(contents(&last), ["m1"], "{at}");
        assert!(contents(&beyond).is_empty(), "{at}: {}", beyond.body);
        for reply in [&default, &middle, &last, &beyond] {
            assert_eq!(reply.body["total"], 7, "{at}: {}", reply.body);
        }
    }
}

#[tokio::test]
async fn history_without_a_peer_or_with_paging_out_of_range_is_refused() {
    for app in apps().await {
        let (bob_id, bob) = app.chat_user("bob").await;
        let with_peer = |paging: &str| format!("peer_id={bob_id}&{paging}");
        let queries = [
            String::new(),
            "limit=5".into(),
            "peer_id=abc".into(),
            with_peer("limit=0"),
            with_peer("limit=101"),
            with_peer("offset=-1"),
        ];

        for query in queries {
            let reply = app.get(&format!("/messages?{query}"), Some(&bob)).await;

            let expected = StatusCode::UNPROCESSABLE_ENTITY;
            assert_eq!(reply.status, expected, "{}: {query}", app.label());
        }
    }
}

#[tokio::test]
async fn requests_without_a_token_or_with_a_bad_one_are_refused_with_a_bearer_challenge() {
    for app in apps().await {
        for (token, detail) in [
            (None, "Not authenticated"),
            (Some("garbage"), "Invalid token"),
        ] {
            let send_body = json!({"recipient_id": 1, "content": "hi"});
            let replies = [
                app.post("/send", send_body, token).await,
                app.get("/messages?peer_id=1", token).await,
            ];

            for reply in &replies {
                refused(&app, reply, StatusCode::UNAUTHORIZED, detail);
                let challenge = &reply.headers["www-authenticate"];
                assert_eq!(challenge, "Bearer", "{}", app.label());
            }
        }
    }
}

#[tokio::test]
async fn the_token_of_a_deleted_user_is_rejected() {
    for app in apps().await {
        let (alice_id, alice) = app.chat_user("alice").await;
        let (bob_id, _) = app.chat_user("bob").await;
        app.core
            .delete_user(missive_store::UserId(alice_id))
            .await
            .unwrap();

        let sending = send(&app, &alice, bob_id, "still here?").await;
        let reading = history(&app, &alice, bob_id, "").await;

        for reply in [&sending, &reading] {
            refused(&app, reply, StatusCode::UNAUTHORIZED, "Invalid token");
            let challenge = &reply.headers["www-authenticate"];
            assert_eq!(challenge, "Bearer", "{}", app.label());
        }
    }
}
