//! `/v1` messages: sending, edits with their versions, tombstones, hiding, unread counts, and
//! strangers who are told nothing exists. Ordering and exactly-once sends: `v1_delivery`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, apps, keys, status_is};
use crate::v1_conversations::{User, conversation, mark_read, sent, summary, v1_user};

pub const MESSAGE_KEYS: [&str; 9] = [
    "content",
    "conversation_id",
    "created_at",
    "deleted",
    "edited_at",
    "id",
    "kind",
    "sender_id",
    "seq",
];

/// Alice, Bob and the conversation between them.
pub async fn pair(app: &TestApp) -> (User, User, i64) {
    let (alice, bob) = (v1_user(app, "alice").await, v1_user(app, "bob").await);
    let id = conversation(app, &alice, &bob).await;
    (alice, bob, id)
}

pub async fn send(
    app: &TestApp,
    who: &User,
    conversation: i64,
    body: Value,
    key: Option<&str>,
) -> Reply {
    let path = format!("/v1/conversations/{conversation}/messages");
    let mut request = app
        .client
        .post(app.url(&path))
        .bearer_auth(&who.token)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    Reply::read(request.send().await.unwrap()).await
}

pub async fn send_keyed(
    app: &TestApp,
    who: &User,
    conversation: i64,
    text: &str,
    key: &str,
) -> Reply {
    send(app, who, conversation, json!({"content": text}), Some(key)).await
}

pub async fn window(app: &TestApp, who: &User, conversation: i64, query: &str) -> Reply {
    let path = format!("/v1/conversations/{conversation}/messages{query}");
    app.get(&path, who.auth()).await
}

async fn edit(app: &TestApp, who: &User, message: i64, text: &str) -> Reply {
    let body = Some(json!({"content": text}));
    app.call(
        Method::PATCH,
        &format!("/v1/messages/{message}"),
        body,
        who.auth(),
    )
    .await
}

async fn delete(app: &TestApp, who: &User, message: i64, query: &str) -> Reply {
    let path = format!("/v1/messages/{message}{query}");
    app.call(Method::DELETE, &path, None, who.auth()).await
}

async fn versions(app: &TestApp, who: &User, message: i64) -> Reply {
    app.get(&format!("/v1/messages/{message}/history"), who.auth())
        .await
}

pub fn seqs(page: &Value) -> Vec<i64> {
    let messages = page["messages"].as_array().unwrap();
    messages
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}

#[track_caller]
pub fn refused_with(app: &TestApp, reply: &Reply, status: StatusCode, code: &str) {
    status_is(app, reply, status);
    assert_eq!(reply.code(), code, "{}: {}", app.label(), reply.body);
}

#[tokio::test]
async fn sent_messages_get_gapless_seqs_and_become_the_conversations_last_message() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;

        let first = sent(&app, &alice, id, "Hi Bob!").await;
        let second = sent(&app, &bob, id, "Hi Alice").await;

        assert_eq!(keys(&first), MESSAGE_KEYS, "{}", app.label());
        assert_eq!(
            (first["seq"].as_i64(), second["seq"].as_i64()),
            (Some(1), Some(2))
        );
        assert_eq!(first["conversation_id"], id);
        assert_eq!(first["sender_id"], alice.id);
        assert_eq!(first["kind"], "text");
        assert_eq!(first["deleted"], false);
        assert!(first["edited_at"].is_null());
        let seen = summary(&app, &alice, id).await;
        assert_eq!(seen["last_seq"], 2, "{}", app.label());
        assert_eq!(seen["last_message"]["content"], "Hi Alice");
        assert_eq!(seen["last_activity_at"], second["created_at"]);
    }
}

#[tokio::test]
async fn bad_content_and_a_bad_idempotency_key_are_named_in_one_422_and_store_nothing() {
    for app in apps().await {
        let (alice, _bob, id) = pair(&app).await;
        let too_long = "é".repeat(2001);
        let long_key = "k".repeat(256);

        let both = send(&app, &alice, id, json!({"content": ""}), Some(&long_key)).await;
        let long = send(&app, &alice, id, json!({"content": too_long}), None).await;
        let missing = send(&app, &alice, id, json!({}), None).await;
        let empty_key = send_keyed(&app, &alice, id, "hi", "").await;
        let tab_key = send_keyed(&app, &alice, id, "hi", "a\tb").await;

        refused_with(
            &app,
            &both,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let mut fields = both.field_names();
        fields.sort_unstable();
        assert_eq!(fields, ["Idempotency-Key", "content"], "{}", app.label());
        assert_eq!(long.field_names(), ["content"], "{}", app.label());
        assert_eq!(missing.field_names(), ["content"], "{}", app.label());
        assert_eq!(
            empty_key.field_names(),
            ["Idempotency-Key"],
            "{}",
            app.label()
        );
        assert_eq!(
            tab_key.field_names(),
            ["Idempotency-Key"],
            "{}",
            app.label()
        );
        assert_eq!(summary(&app, &alice, id).await["last_seq"], 0);
    }
}

#[tokio::test]
async fn the_sender_can_edit_and_every_version_is_kept_in_order() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;
        let message = sent(&app, &alice, id, "draft").await;
        let mid = message["id"].as_i64().unwrap();

        let edited = edit(&app, &alice, mid, "better").await;
        edit(&app, &alice, mid, "best").await;
        let history = versions(&app, &bob, mid).await;

        status_is(&app, &edited, StatusCode::OK);
        assert_eq!(edited.body["content"], "better");
        assert_eq!(edited.body["seq"], message["seq"]);
        assert!(edited.body["edited_at"].is_string(), "{}", app.label());
        status_is(&app, &history, StatusCode::OK);
        assert_eq!(keys(&history.body), ["deleted", "message_id", "versions"]);
        assert_eq!(
            (&history.body["message_id"], &history.body["deleted"]),
            (&json!(mid), &json!(false))
        );
        let list = history.body["versions"].as_array().unwrap();
        let texts: Vec<&str> = list
            .iter()
            .map(|v| v["content"].as_str().unwrap())
            .collect();
        assert_eq!(texts, ["draft", "better", "best"], "{}", app.label());
        assert_eq!(list[0]["from"], message["created_at"]);
        assert_eq!(list[1]["from"], list[0]["until"]);
        assert_eq!(list[2]["from"], list[1]["until"]);
        assert!(list[2]["until"].is_null());
        let current = window(&app, &bob, id, "").await;
        assert_eq!(current.body["messages"][0]["edited_at"], list[2]["from"]);
    }
}

#[tokio::test]
async fn only_the_sender_may_edit_and_a_deleted_message_cannot_be_edited() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;
        let mid = sent(&app, &alice, id, "mine").await["id"].as_i64().unwrap();
        let gone = sent(&app, &alice, id, "oops").await["id"].as_i64().unwrap();
        delete(&app, &alice, gone, "").await;

        let by_peer = edit(&app, &bob, mid, "hijacked").await;
        let empty = edit(&app, &alice, mid, "").await;
        let deleted = edit(&app, &alice, gone, "revived").await;
        let unknown = edit(&app, &alice, 999_999, "x").await;

        refused_with(&app, &by_peer, StatusCode::FORBIDDEN, "not_message_sender");
        refused_with(
            &app,
            &empty,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        refused_with(&app, &deleted, StatusCode::CONFLICT, "message_deleted");
        refused_with(&app, &unknown, StatusCode::NOT_FOUND, "message_not_found");
        let history = versions(&app, &alice, mid).await;
        assert_eq!(
            history.body["versions"].as_array().unwrap().len(),
            1,
            "{}",
            app.label()
        );
    }
}

#[tokio::test]
async fn deleting_for_everyone_leaves_a_tombstone_at_its_seq() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;
        let message = sent(&app, &alice, id, "regret").await;
        let mid = message["id"].as_i64().unwrap();
        edit(&app, &alice, mid, "more regret").await;
        sent(&app, &bob, id, "what?").await;

        let by_peer = delete(&app, &bob, mid, "").await;
        let tombstone = delete(&app, &alice, mid, "").await;
        let again = delete(&app, &alice, mid, "").await;

        refused_with(&app, &by_peer, StatusCode::FORBIDDEN, "not_message_sender");
        status_is(&app, &tombstone, StatusCode::OK);
        assert_eq!(keys(&tombstone.body), MESSAGE_KEYS);
        assert_eq!(
            (&tombstone.body["deleted"], &tombstone.body["seq"]),
            (&json!(true), &message["seq"])
        );
        assert!(tombstone.body["content"].is_null(), "{}", app.label());
        status_is(&app, &again, StatusCode::OK);
        assert_eq!(again.body["id"], mid);
        let seen_by_bob = window(&app, &bob, id, "").await;
        assert_eq!(seqs(&seen_by_bob.body), [1, 2], "{}", app.label());
        assert_eq!(seen_by_bob.body["messages"][0]["deleted"], true);
        assert!(seen_by_bob.body["messages"][0]["content"].is_null());
        let history = versions(&app, &bob, mid).await;
        assert_eq!(
            history.body,
            json!({"message_id": mid, "deleted": true, "versions": []})
        );
    }
}

#[tokio::test]
async fn any_member_can_hide_a_message_from_their_own_views_only() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;
        let first = sent(&app, &bob, id, "keep").await;
        let second = sent(&app, &bob, id, "hide me").await["id"]
            .as_i64()
            .unwrap();

        let hidden = delete(&app, &alice, second, "?for=me").await;
        let twice = delete(&app, &alice, second, "?for=me").await;
        let bad_scope = delete(&app, &alice, second, "?for=everyone").await;

        status_is(&app, &hidden, StatusCode::NO_CONTENT);
        status_is(&app, &twice, StatusCode::NO_CONTENT);
        refused_with(
            &app,
            &bad_scope,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(bad_scope.field_names(), ["for"]);
        assert_eq!(
            seqs(&window(&app, &alice, id, "").await.body),
            [1],
            "{}",
            app.label()
        );
        assert_eq!(
            seqs(&window(&app, &bob, id, "").await.body),
            [1, 2],
            "{}",
            app.label()
        );
        let alices = summary(&app, &alice, id).await;
        assert_eq!(alices["last_message"]["id"], first["id"], "{}", app.label());
        assert_eq!(alices["last_seq"], 2);
    }
}

#[tokio::test]
async fn unread_counts_leave_out_own_deleted_and_hidden_messages() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;
        let mut from_bob = Vec::new();
        for text in ["a", "b", "c", "d"] {
            from_bob.push(sent(&app, &bob, id, text).await["id"].as_i64().unwrap());
        }
        sent(&app, &alice, id, "mine").await;
        let unread = || async { summary(&app, &alice, id).await["unread_count"].clone() };

        assert_eq!(unread().await, 4, "{}", app.label());
        delete(&app, &bob, from_bob[0], "").await;
        assert_eq!(unread().await, 3, "{}", app.label());
        delete(&app, &alice, from_bob[1], "?for=me").await;
        assert_eq!(unread().await, 2, "{}", app.label());
        let read = mark_read(&app, &alice, id, 3).await;
        assert_eq!(read.body, json!({"last_read_seq": 3, "unread_count": 1}));
        assert_eq!(
            summary(&app, &bob, id).await["unread_count"],
            1,
            "{}",
            app.label()
        );
    }
}

#[tokio::test]
async fn a_stranger_is_told_nothing_exists_and_changes_nothing() {
    for app in apps().await {
        let (alice, bob, id) = pair(&app).await;
        let eve = v1_user(&app, "eve").await;
        let mid = sent(&app, &alice, id, "private").await["id"]
            .as_i64()
            .unwrap();
        let conversation_routes = [
            window(&app, &eve, id, "").await,
            send(&app, &eve, id, json!({"content": "hi"}), None).await,
            mark_read(&app, &eve, id, 1).await,
            app.get(&format!("/v1/conversations/{id}"), eve.auth())
                .await,
        ];
        let message_routes = [
            edit(&app, &eve, mid, "defaced").await,
            versions(&app, &eve, mid).await,
            delete(&app, &eve, mid, "").await,
            delete(&app, &eve, mid, "?for=me").await,
            versions(&app, &alice, 999_999).await,
            app.get("/v1/messages/abc/history", alice.auth()).await,
        ];

        for reply in &conversation_routes {
            refused_with(&app, reply, StatusCode::NOT_FOUND, "conversation_not_found");
        }
        for reply in &message_routes {
            refused_with(&app, reply, StatusCode::NOT_FOUND, "message_not_found");
        }
        let seen = window(&app, &bob, id, "").await;
        assert_eq!(
            seen.body["messages"][0]["content"],
            "private",
            "{}",
            app.label()
        );
        assert_eq!(seqs(&seen.body), [1]);
    }
}

#[tokio::test]
async fn every_conversation_and_message_route_needs_a_token() {
    for app in apps().await {
        for (method, path) in [
            (Method::POST, "/v1/conversations"),
            (Method::GET, "/v1/conversations"),
            (Method::GET, "/v1/conversations/1"),
            (Method::GET, "/v1/conversations/1/messages"),
            (Method::POST, "/v1/conversations/1/messages"),
            (Method::POST, "/v1/conversations/1/read"),
            (Method::PATCH, "/v1/messages/1"),
            (Method::DELETE, "/v1/messages/1"),
            (Method::GET, "/v1/messages/1/history"),
        ] {
            let reply = app.call(method.clone(), path, Some(json!({})), None).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} ({})",
                app.label()
            );
        }
    }
}
