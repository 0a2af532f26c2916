//! `/v1/conversations`: opening a direct conversation once per pair, listing by recent
//! activity with an opaque cursor, read positions, and strangers who are told nothing exists.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use missive_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Reply, TestApp, apps, keys, status_is, test_config};

pub const CONVERSATION_KEYS: [&str; 9] = [
    "created_at",
    "id",
    "kind",
    "last_activity_at",
    "last_message",
    "last_read_seq",
    "last_seq",
    "peer",
    "unread_count",
];

/// A user registered on `/v1`, with an access token.
pub struct User {
    pub id: i64,
    pub token: String,
}

impl User {
    pub fn auth(&self) -> Option<&str> {
        Some(&self.token)
    }
}

/// Registers `username` on `/v1`.
pub async fn v1_user(app: &TestApp, username: &str) -> User {
    let email = format!("{username}@example.com");
    let body = json!({"username": username, "email": email, "password": PASSWORD});
    let reply = app.post("/v1/auth/register", body, None).await;
    status_is(app, &reply, StatusCode::CREATED);
    User {
        id: reply.body["user"]["id"].as_i64().unwrap(),
        token: reply.body["access_token"].as_str().unwrap().to_owned(),
    }
}

pub async fn open(app: &TestApp, who: &User, peer_id: i64) -> Reply {
    app.post("/v1/conversations", json!({"peer_id": peer_id}), who.auth())
        .await
}

/// The id of the direct conversation between `who` and `peer`, opened if needed.
pub async fn conversation(app: &TestApp, who: &User, peer: &User) -> i64 {
    let reply = open(app, who, peer.id).await;
    assert!(reply.status.is_success(), "{}: {}", app.label(), reply.body);
    reply.body["id"].as_i64().unwrap()
}

/// Sends `content` into a conversation and expects it stored; returns the message.
pub async fn sent(app: &TestApp, who: &User, conversation: i64, content: &str) -> Value {
    let path = format!("/v1/conversations/{conversation}/messages");
    let reply = app
        .post(&path, json!({"content": content}), who.auth())
        .await;
    status_is(app, &reply, StatusCode::CREATED);
    reply.body
}

/// The conversation as `who` sees it.
pub async fn summary(app: &TestApp, who: &User, conversation: i64) -> Value {
    let reply = app
        .get(&format!("/v1/conversations/{conversation}"), who.auth())
        .await;
    status_is(app, &reply, StatusCode::OK);
    reply.body
}

pub async fn mark_read(app: &TestApp, who: &User, conversation: i64, seq: i64) -> Reply {
    let path = format!("/v1/conversations/{conversation}/read");
    app.post(&path, json!({"seq": seq}), who.auth()).await
}

async fn list(app: &TestApp, who: &User, query: &str) -> Reply {
    app.get(&format!("/v1/conversations{query}"), who.auth())
        .await
}

pub fn ids(page: &Reply) -> Vec<i64> {
    let items = page.body["conversations"].as_array().unwrap();
    items.iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

#[track_caller]
fn refused_with(app: &TestApp, reply: &Reply, status: StatusCode, code: &str) {
    status_is(app, reply, status);
    assert_eq!(reply.code(), code, "{}: {}", app.label(), reply.body);
}

/// Asserts the answer given to anyone who is not a member: no such conversation.
#[track_caller]
pub fn unknown_conversation(app: &TestApp, reply: &Reply) {
    refused_with(app, reply, StatusCode::NOT_FOUND, "conversation_not_found");
    assert_eq!(reply.detail(), "Conversation not found", "{}", app.label());
}

#[track_caller]
pub fn invalid_field(app: &TestApp, reply: &Reply, field: &str) {
    refused_with(
        app,
        reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        reply.field_names(),
        [field],
        "{}: {}",
        app.label(),
        reply.body
    );
}

#[tokio::test]
async fn opening_a_conversation_creates_it_once_whichever_member_asks() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);

        let created = open(&app, &alice, bob.id).await;
        let again = open(&app, &alice, bob.id).await;
        let from_bob = open(&app, &bob, alice.id).await;

        status_is(&app, &created, StatusCode::CREATED);
        assert_eq!(keys(&created.body), CONVERSATION_KEYS, "{}", app.label());
        assert_eq!(created.body["kind"], "direct", "{}", app.label());
        assert_eq!(created.body["peer"]["id"], bob.id);
        assert_eq!(created.body["peer"]["username"], "bob");
        assert_eq!(keys(&created.body["peer"]), ["full_name", "id", "username"]);
        assert_eq!(created.body["last_seq"], 0);
        assert_eq!(created.body["unread_count"], 0);
        assert!(created.body["last_message"].is_null());
        assert_eq!(created.body["last_activity_at"], created.body["created_at"]);
        status_is(&app, &again, StatusCode::OK);
        assert_eq!(again.body["id"], created.body["id"]);
        status_is(&app, &from_bob, StatusCode::OK);
        assert_eq!(from_bob.body["id"], created.body["id"]);
        assert_eq!(from_bob.body["peer"]["id"], alice.id);
    }
}

#[tokio::test]
async fn a_conversation_with_oneself_holds_notes_that_are_never_unread() {
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;

        let notes = open(&app, &alice, alice.id).await;
        status_is(&app, &notes, StatusCode::CREATED);
        let id = notes.body["id"].as_i64().unwrap();
        sent(&app, &alice, id, "buy milk").await;

        let seen = summary(&app, &alice, id).await;
        assert_eq!(seen["peer"]["id"], alice.id, "{}", app.label());
        assert_eq!(seen["last_seq"], 1);
        assert_eq!(seen["unread_count"], 0);
        assert_eq!(seen["last_message"]["content"], "buy milk");
    }
}

#[tokio::test]
async fn opening_with_an_unknown_or_missing_peer_is_refused() {
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;

        let unknown = open(&app, &alice, 999_999).await;
        let missing = app.post("/v1/conversations", json!({}), alice.auth()).await;
        let not_a_number = app
            .post("/v1/conversations", json!({"peer_id": "bob"}), alice.auth())
            .await;
        let anonymous = app
            .post("/v1/conversations", json!({"peer_id": alice.id}), None)
            .await;

        refused_with(&app, &unknown, StatusCode::NOT_FOUND, "user_not_found");
        invalid_field(&app, &missing, "peer_id");
        invalid_field(&app, &not_a_number, "peer_id");
        status_is(&app, &anonymous, StatusCode::UNAUTHORIZED);
        let listed = list(&app, &alice, "").await;
        assert!(ids(&listed).is_empty(), "{}", app.label());
    }
}

#[tokio::test]
async fn conversations_are_listed_by_recent_activity_and_paged_with_an_opaque_cursor() {
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;
        let mut peers = Vec::new();
        for name in ["bob", "carol", "dave"] {
            let peer = v1_user(&app, name).await;
            peers.push(conversation(&app, &alice, &peer).await);
        }
        let [with_bob, with_carol, with_dave] = peers[..] else {
            unreachable!()
        };
        sent(&app, &alice, with_bob, "bump").await;

        let everything = list(&app, &alice, "").await;
        let first = list(&app, &alice, "?limit=2").await;
        let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
        let second = list(&app, &alice, &format!("?limit=2&cursor={cursor}")).await;

        status_is(&app, &everything, StatusCode::OK);
        assert_eq!(keys(&everything.body), ["conversations", "next_cursor"]);
        assert_eq!(
            ids(&everything),
            [with_bob, with_dave, with_carol],
            "{}",
            app.label()
        );
        assert!(everything.body["next_cursor"].is_null());
        assert_eq!(
            everything.body["conversations"][0]["last_message"]["content"],
            "bump"
        );
        assert_eq!(ids(&first), [with_bob, with_dave], "{}", app.label());
        status_is(&app, &second, StatusCode::OK);
        assert_eq!(ids(&second), [with_carol], "{}", app.label());
        assert!(second.body["next_cursor"].is_null(), "{}", app.label());
    }
}

#[tokio::test]
async fn a_full_last_page_has_no_cursor() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        conversation(&app, &alice, &bob).await;

        let page = list(&app, &alice, "?limit=1").await;

        assert_eq!(ids(&page).len(), 1, "{}", app.label());
        assert!(page.body["next_cursor"].is_null(), "{}", app.label());
    }
}

#[tokio::test]
async fn a_bad_page_size_or_cursor_is_a_422_naming_it() {
    for app in apps().await {
        let alice = v1_user(&app, "alice").await;
        let forged = URL_SAFE_NO_PAD.encode("yesterday.7");

        for query in ["?limit=0", "?limit=101"] {
            invalid_field(&app, &list(&app, &alice, query).await, "limit");
        }
        let not_a_number = list(&app, &alice, "?limit=ten").await;
        status_is(&app, &not_a_number, StatusCode::UNPROCESSABLE_ENTITY);
        for cursor in ["not-base64!", "bm9wZQ", forged.as_str()] {
            let reply = list(&app, &alice, &format!("?cursor={cursor}")).await;
            invalid_field(&app, &reply, "cursor");
        }
    }
}

#[tokio::test]
async fn a_conversation_is_found_only_by_its_members() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let eve = v1_user(&app, "eve").await;
        let id = conversation(&app, &alice, &bob).await;

        assert_eq!(summary(&app, &alice, id).await["id"], id, "{}", app.label());
        assert_eq!(summary(&app, &bob, id).await["peer"]["id"], alice.id);
        for path in [
            format!("/v1/conversations/{id}"),
            "/v1/conversations/999999".to_owned(),
            "/v1/conversations/abc".to_owned(),
        ] {
            unknown_conversation(&app, &app.get(&path, eve.auth()).await);
        }
        assert!(
            ids(&list(&app, &eve, "").await).is_empty(),
            "{}",
            app.label()
        );
        let anonymous = app.get(&format!("/v1/conversations/{id}"), None).await;
        status_is(&app, &anonymous, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn the_read_position_moves_forward_only_and_stops_at_the_last_message() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let id = conversation(&app, &alice, &bob).await;
        for text in ["one", "two", "three"] {
            sent(&app, &bob, id, text).await;
        }
        sent(&app, &alice, id, "mine").await;

        let before = summary(&app, &alice, id).await;
        let to_two = mark_read(&app, &alice, id, 2).await;
        let back_to_one = mark_read(&app, &alice, id, 1).await;
        let past_the_end = mark_read(&app, &alice, id, 100).await;

        assert_eq!(before["unread_count"], 3, "{}", app.label());
        assert_eq!(before["last_read_seq"], 0);
        status_is(&app, &to_two, StatusCode::OK);
        assert_eq!(to_two.body, json!({"last_read_seq": 2, "unread_count": 1}));
        assert_eq!(
            back_to_one.body,
            json!({"last_read_seq": 2, "unread_count": 1})
        );
        assert_eq!(
            past_the_end.body,
            json!({"last_read_seq": 4, "unread_count": 0})
        );
        assert_eq!(summary(&app, &alice, id).await["last_read_seq"], 4);
        assert_eq!(summary(&app, &bob, id).await["unread_count"], 1);
    }
}

#[tokio::test]
async fn marking_read_needs_a_seq_of_zero_or_more_and_membership() {
    for app in apps().await {
        let (alice, bob) = (v1_user(&app, "alice").await, v1_user(&app, "bob").await);
        let eve = v1_user(&app, "eve").await;
        let id = conversation(&app, &alice, &bob).await;
        sent(&app, &bob, id, "hello").await;

        let negative = mark_read(&app, &alice, id, -1).await;
        let missing = app
            .post(
                &format!("/v1/conversations/{id}/read"),
                json!({}),
                alice.auth(),
            )
            .await;
        let outsider = mark_read(&app, &eve, id, 1).await;
        let unknown = mark_read(&app, &alice, 999_999, 1).await;

        invalid_field(&app, &negative, "seq");
        invalid_field(&app, &missing, "seq");
        refused_with(
            &app,
            &outsider,
            StatusCode::NOT_FOUND,
            "conversation_not_found",
        );
        refused_with(
            &app,
            &unknown,
            StatusCode::NOT_FOUND,
            "conversation_not_found",
        );
        assert_eq!(summary(&app, &alice, id).await["unread_count"], 1);
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_conversation_and_message_route() {
    let app = TestApp::start(TestDb::sqlite().await, test_config).await;

    let spec = app.call(Method::GET, "/openapi.json", None, None).await;

    status_is(&app, &spec, StatusCode::OK);
    let paths = &spec.body["paths"];
    for (path, method) in [
        ("/v1/conversations", "post"),
        ("/v1/conversations", "get"),
        ("/v1/conversations/{id}", "get"),
        ("/v1/conversations/{id}/messages", "get"),
        ("/v1/conversations/{id}/messages", "post"),
        ("/v1/conversations/{id}/read", "post"),
        ("/v1/messages/{id}", "patch"),
        ("/v1/messages/{id}", "delete"),
        ("/v1/messages/{id}/history", "get"),
    ] {
        let operation = &paths[path][method];
        assert!(
            operation.is_object(),
            "{method} {path} missing from the spec"
        );
        assert_eq!(
            operation["security"][0]["bearer"],
            json!([]),
            "{method} {path}"
        );
    }
    let schemas = &spec.body["components"]["schemas"];
    for schema in [
        "ConversationOut",
        "ConversationPage",
        "MessagePage",
        "MessageHistory",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema} missing");
    }
}

#[tokio::test]
async fn only_the_canonical_form_of_an_id_names_a_conversation() {
    let app = TestApp::start(TestDb::sqlite().await, test_config).await;
    let alice = v1_user(&app, "alice").await;
    let bob = v1_user(&app, "bob").await;
    let opened = app
        .post(
            "/v1/conversations",
            json!({"peer_id": bob.id}),
            alice.auth(),
        )
        .await;
    let id = opened.body["id"].as_i64().unwrap();
    let found = app
        .get(&format!("/v1/conversations/{id}"), alice.auth())
        .await;
    status_is(&app, &found, StatusCode::OK);
    for other in [format!("+{id}"), format!("00{id}"), format!("%20{id}")] {
        let reply = app
            .get(&format!("/v1/conversations/{other}"), alice.auth())
            .await;
        status_is(&app, &reply, StatusCode::NOT_FOUND);
        assert_eq!(reply.code(), "conversation_not_found", "{other}");
    }
}
