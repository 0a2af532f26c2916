//! Face 1, the "Message Service" at the server root: registering and logging in by e-mail,
//! and sending, listing and editing messages, held to its README on every backend.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, apps, keys, refused, status_is, strings};

async fn register(app: &TestApp, email: &str, password: &str) -> Reply {
    let body = json!({"email": email, "password": password, "full_name": "Jane Doe"});
    app.post("/auth/register", body, None).await
}

async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    let body = json!({"email": email, "password": password});
    app.post("/auth/login", body, None).await
}

/// Logs in on the other face, the chat service, by username.
async fn chat_login(app: &TestApp, username: &str, password: &str) -> Reply {
    let body = json!({"username": username, "password": password});
    app.post("/login", body, None).await
}

async fn send(app: &TestApp, token: &str, recipient_id: Value, content: &str) -> Reply {
    let body = json!({"recipient_id": recipient_id, "content": content});
    app.post("/messages/", body, Some(token)).await
}

/// Sends and insists it worked.
async fn sent(app: &TestApp, token: &str, recipient_id: i64, content: &str) {
    let reply = send(app, token, json!(recipient_id), content).await;
    status_is(app, &reply, StatusCode::OK);
}

async fn list(app: &TestApp, token: &str, query: &str) -> Reply {
    app.get(&format!("/messages/{query}"), Some(token)).await
}

async fn edit(app: &TestApp, token: &str, id: &str, content: &str) -> Reply {
    let body = json!({"content": content});
    app.put(&format!("/messages/{id}"), body, Some(token)).await
}

fn contents(reply: &Reply) -> Vec<&str> {
    strings(&reply.body, "content")
}

fn ids(reply: &Reply) -> Vec<&str> {
    strings(&reply.body, "id")
}

/// `YYYY-MM-DDTHH:MM:SS`, as the README shows: no fraction, no zone.
fn is_readme_timestamp(value: &Value) -> bool {
    let pattern = "dddd-dd-ddTdd:dd:dd";
    let text = value.as_str().unwrap_or_default();
    text.len() == pattern.len()
        && text.chars().zip(pattern.chars()).all(|(c, p)| match p {
            'd' => c.is_ascii_digit(),
            literal => c == literal,
        })
}

#[tokio::test]
async fn registering_answers_with_a_bearer_token_and_nothing_else() {
    for app in apps().await {
        let at = app.label();
        let with_name = register(&app, "jane@example.com", PASSWORD).await;
        let body = json!({"email": "joe@example.com", "password": PASSWORD});
        let without_name = app.post("/auth/register", body, None).await;

        for reply in [&with_name, &without_name] {
            status_is(&app, reply, StatusCode::OK);
            assert_eq!(keys(&reply.body), ["access_token", "token_type"], "{at}");
            assert_eq!(reply.body["token_type"], "bearer", "{at}");
            let token = reply.body["access_token"].as_str().unwrap();
            let messages = list(&app, token, "").await;
            refused(&app, &messages, StatusCode::NOT_FOUND, "No messages found");
        }
    }
}

#[tokio::test]
async fn registering_a_taken_email_is_refused_and_leaves_the_account_untouched() {
    for app in apps().await {
        app.message_user("jane@example.com").await;

        let same = register(&app, "jane@example.com", "another-password").await;
        let other_case = register(&app, "JANE@Example.COM", "another-password").await;

        for reply in [&same, &other_case] {
            refused(
                &app,
                reply,
                StatusCode::BAD_REQUEST,
                "Email already registered",
            );
        }
        let old = login(&app, "jane@example.com", PASSWORD).await;
        status_is(&app, &old, StatusCode::OK);
        let new = login(&app, "jane@example.com", "another-password").await;
        status_is(&app, &new, StatusCode::UNAUTHORIZED);
        for username in ["jane", "JANE-2"] {
            let stray = chat_login(&app, username, "another-password").await;
            status_is(&app, &stray, StatusCode::UNAUTHORIZED);
        }
    }
}

#[tokio::test]
async fn an_invalid_email_and_a_short_password_are_each_named_and_the_password_not_echoed() {
    for app in apps().await {
        let at = app.label();

        let reply = register(&app, "not-an-email", "hunter2").await;
        let body = json!({"email": "a@example.com"});
        let missing = app.post("/auth/register", body, None).await;

        status_is(&app, &reply, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.locs(), ["body.email", "body.password"], "{at}");
        assert!(!reply.body.to_string().contains("hunter2"), "{at}");
        status_is(&app, &missing, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(Reply::locs(&missing), ["body.password"], "{at}");
    }
}

#[tokio::test]
async fn a_registered_user_logs_in_on_the_chat_face_with_a_username_derived_from_the_email() {
    let long_local_part = format!("{}@example.com", "x".repeat(45));
    let cases = [
        ("jane@example.com", "jane".to_owned()),
        ("Jane.Doe+news@example.com", "Jane.Doe_news".to_owned()),
        ("ab@example.com", "ab_user".to_owned()),
        (long_local_part.as_str(), "x".repeat(40)),
    ];
    for app in apps().await {
        for (email, _) in &cases {
            app.message_user(email).await;
        }

        for (email, username) in &cases {
            let reply = chat_login(&app, username, PASSWORD).await;
            assert_eq!(reply.status, StatusCode::OK, "{}: {email}", app.label());
        }
    }
}

#[tokio::test]
async fn a_second_email_with_the_same_local_part_gets_a_numbered_username() {
    for app in apps().await {
        for domain in ["a", "b", "c"] {
            let email = format!("jane@{domain}.com");
            let reply = register(&app, &email, &format!("password-of-{domain}")).await;
            status_is(&app, &reply, StatusCode::OK);
        }

        let first = chat_login(&app, "jane", "password-of-a").await;
        let second = chat_login(&app, "jane-2", "password-of-b").await;
        let third = chat_login(&app, "jane-3", "password-of-c").await;

        for reply in [&first, &second, &third] {
            status_is(&app, reply, StatusCode::OK);
        }
    }
}

#[tokio::test]
async fn login_answers_with_a_bearer_token_and_ignores_the_case_of_the_email() {
    for app in apps().await {
        let at = app.label();
        app.message_user("Mixed.Case@Example.com").await;

        let reply = login(&app, "mixed.case@example.COM", PASSWORD).await;

        status_is(&app, &reply, StatusCode::OK);
        assert_eq!(keys(&reply.body), ["access_token", "token_type"], "{at}");
        assert_eq!(reply.body["token_type"], "bearer", "{at}");
        let token = reply.body["access_token"].as_str().unwrap();
        let messages = list(&app, token, "").await;
        refused(&app, &messages, StatusCode::NOT_FOUND, "No messages found");
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_refusal() {
    for app in apps().await {
        app.message_user("jane@example.com").await;

        let wrong = login(&app, "jane@example.com", "not-the-password").await;
        let unknown = login(&app, "nobody@example.com", PASSWORD).await;

        for reply in [&wrong, &unknown] {
            refused(&app, reply, StatusCode::UNAUTHORIZED, "Invalid credentials");
        }
        assert_eq!(wrong.body, unknown.body, "{}", app.label());
    }
}

#[tokio::test]
async fn a_message_is_sent_with_the_recipient_id_as_a_string_or_an_integer() {
    for app in apps().await {
        let (_, alice) = app.chat_user("alice").await;
        let (bob_id, bob) = app.chat_user("bob").await;

        let as_string = send(&app, &alice, json!(bob_id.to_string()), "as a string").await;
        let as_integer = send(&app, &alice, json!(bob_id), "as an integer").await;

        for reply in [&as_string, &as_integer] {
            status_is(&app, reply, StatusCode::OK);
            let expected = json!({"message": "Message sent successfully"});
            assert_eq!(reply.body, expected, "{}", app.label());
        }
        let received = list(&app, &bob, "").await;
        let expected = ["as a string", "as an integer"];
        assert_eq!(contents(&received), expected, "{}", app.label());
    }
}

#[tokio::test]
async fn sending_to_an_unknown_or_non_numeric_recipient_is_not_found() {
    for app in apps().await {
        let (_, alice) = app.chat_user("alice").await;

        for recipient in [json!("999999"), json!(999_999), json!("a1b2c3")] {
            let reply = send(&app, &alice, recipient.clone(), "hello?").await;

            status_is(&app, &reply, StatusCode::NOT_FOUND);
        }
        let listed = list(&app, &alice, "").await;
        status_is(&app, &listed, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn content_is_limited_to_2000_characters_not_bytes_on_send_and_edit() {
    for app in apps().await {
        let (_, alice) = app.chat_user("alice").await;
        let (bob_id, _) = app.chat_user("bob").await;

        let accented = send(&app, &alice, json!(bob_id), &"é".repeat(2000)).await;
        let emoji = send(&app, &alice, json!(bob_id), &"😀".repeat(2000)).await;
        let too_long = send(&app, &alice, json!(bob_id), &"a".repeat(2001)).await;
        let stored = list(&app, &alice, "").await;
        let edited_too_long = edit(&app, &alice, ids(&stored)[0], &"a".repeat(2001)).await;

        status_is(&app, &accented, StatusCode::OK);
        status_is(&app, &emoji, StatusCode::OK);
        for reply in [&too_long, &edited_too_long] {
            status_is(&app, reply, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(reply.locs(), ["body.content"], "{}", app.label());
        }
        let after = list(&app, &alice, "").await;
        let expected = ["é".repeat(2000), "😀".repeat(2000)];
        assert_eq!(contents(&after), expected, "{}", app.label());
    }
}

#[tokio::test]
async fn listing_shows_only_the_callers_messages_oldest_first_in_the_readme_shape() {
    for app in apps().await {
        let at = app.label();
        let (alice_id, alice) = app.chat_user("alice").await;
        let (bob_id, bob) = app.chat_user("bob").await;
        let (carol_id, carol) = app.chat_user("carol").await;
        sent(&app, &alice, bob_id, "one").await;
        sent(&app, &bob, alice_id, "two").await;
        sent(&app, &carol, bob_id, "not alice's").await;
        sent(&app, &alice, carol_id, "three").await;

        let reply = list(&app, &alice, "").await;

        status_is(&app, &reply, StatusCode::OK);
        assert_eq!(contents(&reply), ["one", "two", "three"], "{at}");
        let pairs = [(alice_id, bob_id), (bob_id, alice_id), (alice_id, carol_id)];
        let fields = ["content", "id", "recipient_id", "sender_id", "timestamp"];
        for (message, (sender, recipient)) in reply.body.as_array().unwrap().iter().zip(pairs) {
            assert_eq!(keys(message), fields, "{at}");
            assert!(
                message["id"].as_str().unwrap().parse::<i64>().is_ok(),
                "{at}"
            );
            assert_eq!(message["sender_id"], json!(sender.to_string()), "{at}");
            assert_eq!(
                message["recipient_id"],
                json!(recipient.to_string()),
                "{at}"
            );
            assert!(
                is_readme_timestamp(&message["timestamp"]),
                "{at}: {message}"
            );
        }
    }
}

#[tokio::test]
async fn listing_with_no_messages_is_not_found() {
    for app in apps().await {
        let token = app.message_user("lonely@example.com").await;

        let reply = list(&app, &token, "").await;

        refused(&app, &reply, StatusCode::NOT_FOUND, "No messages found");
    }
}

#[tokio::test]
async fn listing_pages_with_limit_and_offset() {
    for app in apps().await {
        let at = app.label();
        let (_, alice) = app.chat_user("alice").await;
        let (bob_id, _) = app.chat_user("bob").await;
        for content in ["m1", "m2", "m3"] {
            sent(&app, &alice, bob_id, content).await;
        }

        let first = list(&app, &alice, "?limit=2").await;
        let second = list(&app, &alice, "?limit=2&offset=2").await;
        let largest = list(&app, &alice, "?limit=1000").await;
        let past_the_end = list(&app, &alice, "?offset=3").await;

        // Windows count back from the newest, so polling clients always see new messages.
        assert_eq!(contents(&first), ["m2", "m3"], "{at}: {}", first.body);
        assert_eq!(contents(&second), ["m1"], "{at}: {}", second.body);
        assert_eq!(contents(&largest), ["m1", "m2", "m3"], "{at}");
        refused(
            &app,
            &past_the_end,
            StatusCode::NOT_FOUND,
            "No messages found",
        );
    }
}

#[tokio::test]
async fn a_limit_or_offset_out_of_range_is_refused() {
    for app in apps().await {
        let token = app.message_user("jane@example.com").await;

        for query in ["?limit=0", "?limit=1001", "?offset=-1", "?limit=many"] {
            let reply = list(&app, &token, query).await;

            let expected = StatusCode::UNPROCESSABLE_ENTITY;
            assert_eq!(reply.status, expected, "{}: {query}", app.label());
        }
    }
}

#[tokio::test]
async fn editing_a_message_returns_it_updated_and_keeps_its_place() {
    for app in apps().await {
        let at = app.label();
        let (alice_id, alice) = app.chat_user("alice").await;
        let (bob_id, bob) = app.chat_user("bob").await;
        for content in ["first", "second", "third"] {
            sent(&app, &alice, bob_id, content).await;
        }
        let before = list(&app, &alice, "").await;
        let id = ids(&before)[1];

        let reply = edit(&app, &alice, id, "second, edited").await;

        status_is(&app, &reply, StatusCode::OK);
        let fields = ["content", "id", "recipient_id", "sender_id", "timestamp"];
        assert_eq!(keys(&reply.body), fields, "{at}");
        assert_eq!(reply.body["id"], id, "{at}");
        assert_eq!(reply.body["sender_id"], json!(alice_id.to_string()), "{at}");
        assert_eq!(
            reply.body["recipient_id"],
            json!(bob_id.to_string()),
            "{at}"
        );
        assert_eq!(reply.body["content"], "second, edited", "{at}");
        assert!(is_readme_timestamp(&reply.body["timestamp"]), "{at}");
        let after = list(&app, &bob, "").await;
        assert_eq!(
            contents(&after),
            ["first", "second, edited", "third"],
            "{at}"
        );
        assert_eq!(ids(&after), ids(&before), "{at}");
    }
}

#[tokio::test]
async fn editing_another_users_an_unknown_or_a_non_numeric_message_is_not_found() {
    for app in apps().await {
        let (_, alice) = app.chat_user("alice").await;
        let (bob_id, bob) = app.chat_user("bob").await;
        sent(&app, &alice, bob_id, "alice's words").await;
        let listed = list(&app, &alice, "").await;
        let id = ids(&listed)[0];

        for id in [id, "999999", "abc"] {
            let reply = edit(&app, &bob, id, "bob's words").await;

            refused(&app, &reply, StatusCode::NOT_FOUND, "Message not found");
        }
        let after = list(&app, &alice, "").await;
        assert_eq!(contents(&after), ["alice's words"], "{}", app.label());
    }
}

#[tokio::test]
async fn requests_without_a_token_or_with_a_garbage_one_are_refused_with_a_bearer_challenge() {
    for app in apps().await {
        for (token, detail) in [
            (None, "Not authenticated"),
            (Some("garbage"), "Invalid token"),
        ] {
            let send_body = json!({"recipient_id": 1, "content": "hi"});
            let replies = [
                app.get("/messages/", token).await,
                app.post("/messages/", send_body, token).await,
                app.put("/messages/1", json!({"content": "hi"}), token)
                    .await,
            ];

            for reply in &replies {
                refused(&app, reply, StatusCode::UNAUTHORIZED, detail);
                let challenge = &reply.headers["www-authenticate"];
                assert_eq!(challenge, "Bearer", "{}", app.label());
            }
        }
    }
}
