//! Groups on `/v1`: creating them, every role rule allowed and refused, leaving and handing
//! over, notices in the history's `seq` order, members with their read positions (read
//! receipts), who hears what on the event streams (typing included), concurrent changes, and
//! the compatibility faces, which show nothing of groups.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use missive::config::Config;
use missive_store::testing::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cache::{Cached, cached_apps};
use crate::helpers::{Reply, TestApp, apps, keys, status_is, strings, test_config};
use crate::live::{
    Live, TRANSPORTS, Transport, from_the_start, gapless, replay, two_instances_with_redis, types,
};
use crate::v1_conversations::{
    CONVERSATION_KEYS, User, conversation, ids, invalid_field, mark_read, sent, summary,
    unknown_conversation, v1_user,
};
use crate::v1_messages::{MESSAGE_KEYS, refused_with, send_keyed, window};

/// The keys of a conversation as a group's member sees it: a direct conversation's but its
/// `peer`, and a title, a size and the caller's role.
fn group_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = CONVERSATION_KEYS
        .into_iter()
        .filter(|key| *key != "peer")
        .collect();
    keys.extend(["member_count", "role", "title"]);
    keys.sort_unstable();
    keys
}

/// Registers users on `/v1`, one after the other: their ids rise in the order named (members
/// who join at the same moment, a group's first ones, are listed by id).
async fn users<const N: usize>(app: &TestApp, names: [&str; N]) -> [User; N] {
    let mut users = Vec::with_capacity(N);
    for name in names {
        users.push(v1_user(app, name).await);
    }
    users.try_into().ok().unwrap()
}

/// `POST /v1/conversations` for a group of `owner` titled `title` with `members`.
async fn create(app: &TestApp, owner: &User, title: &str, members: &[i64]) -> Reply {
    let body = json!({"kind": "group", "title": title, "member_ids": members});
    app.post("/v1/conversations", body, owner.auth()).await
}

/// A group of `owner` with `members`, expected created; its id.
async fn group(app: &TestApp, owner: &User, members: &[&User]) -> i64 {
    let ids: Vec<i64> = members.iter().map(|member| member.id).collect();
    let reply = create(app, owner, "Crew", &ids).await;
    status_is(app, &reply, StatusCode::CREATED);
    reply.body["id"].as_i64().unwrap()
}

async fn add(app: &TestApp, who: &User, group: i64, user: i64) -> Reply {
    let path = format!("/v1/conversations/{group}/members");
    app.post(&path, json!({"user_id": user}), who.auth()).await
}

/// Removes `member` (an id, or `me`).
async fn remove(app: &TestApp, who: &User, group: i64, member: impl Display) -> Reply {
    let path = format!("/v1/conversations/{group}/members/{member}");
    app.call(Method::DELETE, &path, None, who.auth()).await
}

async fn set_role(app: &TestApp, who: &User, group: i64, member: i64, role: &str) -> Reply {
    let path = format!("/v1/conversations/{group}/members/{member}");
    let body = Some(json!({"role": role}));
    app.call(Method::PATCH, &path, body, who.auth()).await
}

async fn rename(app: &TestApp, who: &User, group: i64, title: &str) -> Reply {
    let body = Some(json!({"title": title}));
    let path = format!("/v1/conversations/{group}");
    app.call(Method::PATCH, &path, body, who.auth()).await
}

async fn members(app: &TestApp, who: &User, conversation: i64, query: &str) -> Reply {
    let path = format!("/v1/conversations/{conversation}/members{query}");
    app.get(&path, who.auth()).await
}

async fn typing(app: &TestApp, who: &User, conversation: i64) -> Reply {
    let path = format!("/v1/conversations/{conversation}/typing");
    app.call(Method::POST, &path, None, who.auth()).await
}

/// Each member's `[user id, role]`, in the order the members route lists them.
async fn roles(app: &TestApp, who: &User, group: i64) -> Value {
    let reply = members(app, who, group, "").await;
    status_is(app, &reply, StatusCode::OK);
    let entries = reply.body["members"].as_array().unwrap();
    let role = |entry: &Value| json!([entry["user"]["id"], entry["role"]]);
    entries.iter().map(role).collect()
}

/// The whole history as `who` reads it, oldest first.
async fn history(app: &TestApp, who: &User, conversation: i64) -> Vec<Value> {
    let reply = window(app, who, conversation, "?after=0&limit=100").await;
    status_is(app, &reply, StatusCode::OK);
    assert_eq!(reply.body["has_more"], false, "{}", app.label());
    reply.body["messages"].as_array().unwrap().clone()
}

fn kinds(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect()
}

async fn listed(app: &TestApp, who: &User) -> Vec<i64> {
    let page = app.get("/v1/conversations?limit=100", who.auth()).await;
    status_is(app, &page, StatusCode::OK);
    ids(&page)
}

/// Asserts that a step succeeded (whichever success it answers).
#[track_caller]
fn done(app: &TestApp, reply: Reply) {
    let status = reply.status;
    assert!(
        status.is_success(),
        "{}: {status} {}",
        app.label(),
        reply.body
    );
}

// Creating and listing.

#[tokio::test]
async fn a_group_created_with_an_idempotency_key_is_made_once() {
    for app in apps().await {
        let [alice, bob] = users(&app, ["alice", "bob"]).await;
        let create = |title: &str, key: &str| {
            let body = json!({"kind": "group", "title": title, "member_ids": [bob.id]});
            app.client
                .post(app.url("/v1/conversations"))
                .bearer_auth(&alice.token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
        };

        let first = Reply::read(create("Crew", "make-crew").await.unwrap()).await;
        let retry = Reply::read(create("Crew", "make-crew").await.unwrap()).await;
        let other = Reply::read(create("Other", "make-crew").await.unwrap()).await;
        let bad = Reply::read(create("Crew", "").await.unwrap()).await;

        status_is(&app, &first, StatusCode::CREATED);
        assert!(
            first.headers.get("idempotent-replayed").is_none(),
            "{}",
            app.label()
        );
        status_is(&app, &retry, StatusCode::CREATED);
        assert_eq!(
            retry.headers["idempotent-replayed"],
            "true",
            "{}",
            app.label()
        );
        assert_eq!(retry.body, first.body, "{}: the same group", app.label());
        refused_with(
            &app,
            &other,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
        );
        status_is(&app, &bad, StatusCode::UNPROCESSABLE_ENTITY);
        let id = first.body["id"].as_i64().unwrap();
        assert_eq!(
            listed(&app, &alice).await,
            [id],
            "{}: one group",
            app.label()
        );
        assert_eq!(listed(&app, &bob).await, [id], "{}", app.label());
    }
}

#[tokio::test]
async fn creating_a_group_answers_its_title_size_and_the_callers_role() {
    for app in apps().await {
        let [alice, bob, carol] = users(&app, ["alice", "bob", "carol"]).await;

        // The owner and duplicates among the members are counted once.
        let members = [bob.id, carol.id, bob.id, alice.id];
        let created = create(&app, &alice, "  Release crew ", &members).await;

        status_is(&app, &created, StatusCode::CREATED);
        let group = &created.body;
        let id = group["id"].as_i64().unwrap();
        assert_eq!(keys(group), group_keys(), "{}: {group}", app.label());
        assert_eq!(group["kind"], "group");
        assert_eq!(group["title"], "Release crew");
        assert_eq!(group["member_count"], 3);
        assert_eq!(group["role"], "owner");
        // Its history starts with the notice of its creation, which is nobody's unread.
        assert_eq!(group["last_seq"], 1);
        assert_eq!(group["unread_count"], 0);
        let notice = &group["last_message"];
        assert_eq!(notice["kind"], "group.created", "{}: {notice}", app.label());
        assert_eq!(notice["sender_id"], alice.id);
        assert!(notice["content"].is_null(), "{notice}");
        let seen_by_bob = summary(&app, &bob, id).await;
        assert_eq!(keys(&seen_by_bob), group_keys());
        assert_eq!(seen_by_bob["role"], "member", "{}", app.label());
        assert_eq!(seen_by_bob["title"], "Release crew");
        assert_eq!(seen_by_bob["member_count"], 3);
        assert_eq!(seen_by_bob["unread_count"], 0);
        let expected = json!([
            [alice.id, "owner"],
            [bob.id, "member"],
            [carol.id, "member"]
        ]);
        assert_eq!(roles(&app, &carol, id).await, expected, "{}", app.label());
        // A direct conversation says what it is too.
        let direct = conversation(&app, &alice, &bob).await;
        let direct = summary(&app, &alice, direct).await;
        assert_eq!(keys(&direct), CONVERSATION_KEYS, "{}", app.label());
        assert_eq!(direct["kind"], "direct");
    }
}

#[tokio::test]
async fn a_bad_group_is_refused_and_nothing_is_created() {
    for app in apps().await {
        let [alice, bob] = users(&app, ["alice", "bob"]).await;
        let no_title = json!({"kind": "group", "member_ids": [bob.id]});
        let bad_kind = json!({"kind": "club", "title": "Crew", "member_ids": [bob.id]});

        let untitled = app.post("/v1/conversations", no_title, alice.auth()).await;
        let blank = create(&app, &alice, "   ", &[bob.id]).await;
        let too_long = create(&app, &alice, &"x".repeat(101), &[bob.id]).await;
        let club = app.post("/v1/conversations", bad_kind, alice.auth()).await;
        // A field of the other kind is refused, not ignored.
        let with_peer = json!({"kind": "group", "title": "Crew", "peer_id": bob.id});
        let with_peer = app.post("/v1/conversations", with_peer, alice.auth()).await;
        let direct_members = json!({"peer_id": bob.id, "member_ids": [bob.id]});
        let direct_members = app
            .post("/v1/conversations", direct_members, alice.auth())
            .await;
        let stranger = create(&app, &alice, "Crew", &[bob.id, 999_999]).await;

        invalid_field(&app, &untitled, "title");
        invalid_field(&app, &blank, "title");
        invalid_field(&app, &too_long, "title");
        invalid_field(&app, &club, "kind");
        invalid_field(&app, &with_peer, "peer_id");
        invalid_field(&app, &direct_members, "member_ids");
        refused_with(&app, &stranger, StatusCode::NOT_FOUND, "user_not_found");
        for who in [&alice, &bob] {
            assert!(listed(&app, who).await.is_empty(), "{}", app.label());
        }
        // A hundred characters are enough.
        let longest = create(&app, &alice, &"x".repeat(100), &[bob.id]).await;
        status_is(&app, &longest, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn a_group_has_at_most_the_configured_number_of_members() {
    for db in TestDb::all().await {
        let small = |db: &TestDb| Config {
            max_group_members: 3,
            ..test_config(db)
        };
        let app = TestApp::start(db, small).await;
        let [alice, bob, carol, dave] = users(&app, ["alice", "bob", "carol", "dave"]).await;

        let too_many = create(&app, &alice, "Crew", &[bob.id, carol.id, dave.id]).await;
        invalid_field(&app, &too_many, "member_ids");
        assert!(listed(&app, &alice).await.is_empty(), "{}", app.label());
        // Three, the owner included (named again, or not).
        let members = [bob.id, carol.id, carol.id, alice.id];
        let full = create(&app, &alice, "Crew", &members).await;
        status_is(&app, &full, StatusCode::CREATED);
        let id = full.body["id"].as_i64().unwrap();

        let fourth = add(&app, &alice, id, dave.id).await;
        refused_with(&app, &fourth, StatusCode::CONFLICT, "group_full");
        let seen = summary(&app, &alice, id).await;
        assert_eq!(
            (&seen["member_count"], &seen["last_seq"]),
            (&json!(3), &json!(1))
        );
        done(&app, remove(&app, &bob, id, "me").await);
        done(&app, add(&app, &alice, id, dave.id).await);
    }
}

#[tokio::test]
async fn direct_conversations_and_groups_are_listed_together_by_recent_activity() {
    for app in apps().await {
        let [alice, bob] = users(&app, ["alice", "bob"]).await;
        let direct = conversation(&app, &alice, &bob).await;
        let group = group(&app, &alice, &[&bob]).await;
        sent(&app, &bob, direct, "newer than the group").await;

        assert_eq!(
            listed(&app, &alice).await,
            [direct, group],
            "{}",
            app.label()
        );
        sent(&app, &alice, group, "now the group").await;
        for who in [&alice, &bob] {
            assert_eq!(listed(&app, who).await, [group, direct], "{}", app.label());
        }
        let first = app.get("/v1/conversations?limit=1", bob.auth()).await;
        assert_eq!(ids(&first), [group]);
        assert_eq!(first.body["conversations"][0]["kind"], "group");
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let path = format!("/v1/conversations?limit=1&cursor={cursor}");
        let second = app.get(&path, bob.auth()).await;
        assert_eq!(ids(&second), [direct], "{}", app.label());
        assert_eq!(second.body["conversations"][0]["kind"], "direct");
        assert!(second.body["next_cursor"].is_null());
    }
}

// Roles.

#[tokio::test]
async fn owners_and_admins_manage_members_and_plain_members_may_not() {
    for app in apps().await {
        let names = ["alice", "bob", "carol", "dave", "erin"];
        let [alice, bob, carol, dave, erin] = users(&app, names).await;
        let id = group(&app, &alice, &[&bob, &carol, &dave]).await;
        done(&app, set_role(&app, &alice, id, bob.id, "admin").await);

        // A plain member may add, remove, rename and change roles none of it.
        for reply in [
            add(&app, &carol, id, erin.id).await,
            remove(&app, &carol, id, dave.id).await,
            rename(&app, &carol, id, "Carol's").await,
            set_role(&app, &carol, id, dave.id, "admin").await,
            set_role(&app, &carol, id, carol.id, "admin").await,
        ] {
            refused_with(&app, &reply, StatusCode::FORBIDDEN, "not_allowed");
        }
        assert_eq!(
            summary(&app, &alice, id).await["last_seq"],
            2,
            "{}",
            app.label()
        );

        // An admin adds, renames and removes members...
        let added = add(&app, &bob, id, erin.id).await;
        status_is(&app, &added, StatusCode::CREATED);
        assert_eq!(added.body["member_count"], 5, "{}", app.label());
        assert_eq!(added.body["role"], "admin");
        let again = add(&app, &bob, id, erin.id).await;
        status_is(&app, &again, StatusCode::OK);
        assert_eq!(again.body["member_count"], 5);
        let renamed = rename(&app, &bob, id, "Bob's crew").await;
        status_is(&app, &renamed, StatusCode::OK);
        assert_eq!(renamed.body["title"], "Bob's crew", "{}", app.label());
        assert_eq!(summary(&app, &erin, id).await["title"], "Bob's crew");
        done(&app, remove(&app, &bob, id, erin.id).await);
        // ...but changes no role, and removes neither an admin nor the owner.
        let role_change = set_role(&app, &bob, id, carol.id, "admin").await;
        refused_with(&app, &role_change, StatusCode::FORBIDDEN, "not_allowed");
        done(&app, set_role(&app, &alice, id, carol.id, "admin").await);
        for target in [carol.id, alice.id] {
            let reply = remove(&app, &bob, id, target).await;
            refused_with(&app, &reply, StatusCode::FORBIDDEN, "not_allowed");
        }
        // The owner removes an admin.
        done(&app, remove(&app, &alice, id, carol.id).await);

        // Only the owner changes roles, never their own; a role must be one.
        for role in ["member", "admin"] {
            let own = set_role(&app, &alice, id, alice.id, role).await;
            refused_with(&app, &own, StatusCode::FORBIDDEN, "not_allowed");
        }
        invalid_field(
            &app,
            &set_role(&app, &alice, id, bob.id, "boss").await,
            "role",
        );
        // Someone who is not (or no longer) a member, or nobody at all.
        for reply in [
            set_role(&app, &alice, id, erin.id, "admin").await,
            remove(&app, &alice, id, erin.id).await,
            remove(&app, &alice, id, 999_999).await,
        ] {
            refused_with(&app, &reply, StatusCode::NOT_FOUND, "member_not_found");
        }
        let nobody = add(&app, &alice, id, 999_999).await;
        refused_with(&app, &nobody, StatusCode::NOT_FOUND, "user_not_found");
        // A role a member has already: nothing changes, no notice.
        let last_seq = summary(&app, &alice, id).await["last_seq"].clone();
        done(&app, set_role(&app, &alice, id, bob.id, "admin").await);
        assert_eq!(summary(&app, &alice, id).await["last_seq"], last_seq);

        // Handing over: the old owner becomes an admin, and may change no role any more.
        done(&app, set_role(&app, &alice, id, dave.id, "owner").await);
        let expected = json!([[alice.id, "admin"], [bob.id, "admin"], [dave.id, "owner"]]);
        assert_eq!(roles(&app, &bob, id).await, expected, "{}", app.label());
        assert_eq!(summary(&app, &alice, id).await["role"], "admin");
        assert_eq!(summary(&app, &dave, id).await["role"], "owner");
        let former = set_role(&app, &alice, id, bob.id, "member").await;
        refused_with(&app, &former, StatusCode::FORBIDDEN, "not_allowed");
        let remove_owner = remove(&app, &alice, id, dave.id).await;
        refused_with(&app, &remove_owner, StatusCode::FORBIDDEN, "not_allowed");
        done(&app, set_role(&app, &dave, id, bob.id, "member").await);
        assert_eq!(summary(&app, &bob, id).await["role"], "member");
    }
}

#[tokio::test]
async fn a_leaving_owner_hands_over_and_the_last_one_out_deletes_the_group() {
    for app in apps().await {
        let [alice, bob, carol, dave] = users(&app, ["alice", "bob", "carol", "dave"]).await;
        let id = group(&app, &alice, &[&bob]).await;
        done(&app, add(&app, &alice, id, carol.id).await);
        done(&app, add(&app, &alice, id, dave.id).await);
        done(&app, set_role(&app, &alice, id, dave.id, "admin").await);

        // An admin comes first, however recent...
        done(&app, remove(&app, &alice, id, "me").await);
        let expected = json!([[bob.id, "member"], [carol.id, "member"], [dave.id, "owner"]]);
        assert_eq!(roles(&app, &bob, id).await, expected, "{}", app.label());
        let gone = app
            .get(&format!("/v1/conversations/{id}"), alice.auth())
            .await;
        unknown_conversation(&app, &gone);
        // ...else the longest-standing member. (Leaving by one's own id works too.)
        done(&app, remove(&app, &dave, id, dave.id).await);
        assert_eq!(
            summary(&app, &bob, id).await["role"],
            "owner",
            "{}",
            app.label()
        );
        done(&app, remove(&app, &bob, id, "me").await);
        let last = summary(&app, &carol, id).await;
        assert_eq!(
            (&last["role"], &last["member_count"]),
            (&json!("owner"), &json!(1))
        );

        // The history tells each handover at its place.
        let told = history(&app, &carol, id).await;
        assert_eq!(
            kinds(&told),
            [
                "group.created",
                "member.added",
                "member.added",
                "member.role_changed",
                "member.left",
                "member.role_changed",
                "member.left",
                "member.role_changed",
                "member.left",
                "member.role_changed",
            ],
            "{}",
            app.label()
        );
        // Each owner who left: (who left, who handed over, to whom), the handover right after.
        let handover = |pair: &[Value]| {
            let (left, given) = (&pair[0], &pair[1]);
            json!([
                left["notice"]["user_id"],
                given["sender_id"],
                given["notice"]["user_id"]
            ])
        };
        let handovers = told
            .windows(2)
            .filter(|pair| pair[1]["notice"]["role"] == "owner");
        let expected = json!([
            [alice.id, alice.id, dave.id],
            [dave.id, dave.id, bob.id],
            [bob.id, bob.id, carol.id]
        ]);
        let handovers: Value = handovers.map(handover).collect();
        assert_eq!(handovers, expected, "{}", app.label());

        // The last one out: the group is gone, for everyone.
        done(&app, remove(&app, &carol, id, "me").await);
        for who in [&alice, &bob, &carol, &dave] {
            let reply = app
                .get(&format!("/v1/conversations/{id}"), who.auth())
                .await;
            unknown_conversation(&app, &reply);
            assert!(listed(&app, who).await.is_empty(), "{}", app.label());
        }
        let messages = window(&app, &carol, id, "").await;
        unknown_conversation(&app, &messages);
    }
}

#[tokio::test]
async fn a_direct_conversation_has_members_but_no_group_changes() {
    for app in apps().await {
        let [alice, bob, carol] = users(&app, ["alice", "bob", "carol"]).await;
        let id = conversation(&app, &alice, &bob).await;

        for reply in [
            add(&app, &alice, id, carol.id).await,
            remove(&app, &alice, id, bob.id).await,
            remove(&app, &alice, id, "me").await,
            rename(&app, &alice, id, "Us").await,
            set_role(&app, &alice, id, bob.id, "admin").await,
        ] {
            refused_with(&app, &reply, StatusCode::CONFLICT, "not_a_group");
        }
        let expected = json!([[alice.id, "member"], [bob.id, "member"]]);
        assert_eq!(roles(&app, &bob, id).await, expected, "{}", app.label());
        let seen = summary(&app, &alice, id).await;
        assert_eq!(
            (&seen["kind"], &seen["last_seq"]),
            (&json!("direct"), &json!(0))
        );
        assert_eq!(seen["peer"]["id"], bob.id);
    }
}

#[tokio::test]
async fn a_non_member_is_told_the_group_does_not_exist_and_changes_nothing() {
    for app in apps().await {
        let [alice, bob, eve] = users(&app, ["alice", "bob", "eve"]).await;
        let id = group(&app, &alice, &[&bob]).await;
        let message = sent(&app, &alice, id, "members only").await;
        let message = message["id"].as_i64().unwrap();
        let messages = format!("/v1/conversations/{id}/messages");

        for reply in [
            app.get(&format!("/v1/conversations/{id}"), eve.auth())
                .await,
            members(&app, &eve, id, "").await,
            add(&app, &eve, id, eve.id).await,
            remove(&app, &eve, id, bob.id).await,
            remove(&app, &eve, id, "me").await,
            set_role(&app, &eve, id, bob.id, "admin").await,
            rename(&app, &eve, id, "Eve's now").await,
            typing(&app, &eve, id).await,
            app.post(&messages, json!({"content": "let me in"}), eve.auth())
                .await,
            window(&app, &eve, id, "").await,
            mark_read(&app, &eve, id, 1).await,
        ] {
            unknown_conversation(&app, &reply);
        }
        let path = format!("/v1/messages/{message}");
        for reply in [
            app.get(&format!("{path}/history"), eve.auth()).await,
            app.call(
                Method::PATCH,
                &path,
                Some(json!({"content": "x"})),
                eve.auth(),
            )
            .await,
            app.call(Method::DELETE, &path, None, eve.auth()).await,
        ] {
            refused_with(&app, &reply, StatusCode::NOT_FOUND, "message_not_found");
        }
        let seen = summary(&app, &alice, id).await;
        assert_eq!(
            (&seen["member_count"], &seen["last_seq"]),
            (&json!(2), &json!(2))
        );
        assert_eq!(seen["title"], "Crew", "{}", app.label());
        assert!(listed(&app, &eve).await.is_empty());
    }
}

// Notices.

#[tokio::test]
async fn the_history_shows_each_change_as_a_notice_at_its_seq() {
    for app in apps().await {
        let [alice, bob, carol, dave] = users(&app, ["alice", "bob", "carol", "dave"]).await;
        let id = group(&app, &alice, &[&bob, &carol]).await;
        sent(&app, &alice, id, "hello").await;
        done(&app, add(&app, &alice, id, dave.id).await);
        done(&app, set_role(&app, &alice, id, bob.id, "admin").await);
        done(&app, rename(&app, &bob, id, "New name").await);
        sent(&app, &bob, id, "hi").await;
        done(&app, remove(&app, &bob, id, carol.id).await);
        done(&app, remove(&app, &dave, id, "me").await);

        let told = history(&app, &alice, id).await;
        let seqs: Vec<i64> = told.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>(), "{}", app.label());
        let expected = [
            ("group.created", alice.id, json!({})),
            ("text", alice.id, Value::Null),
            ("member.added", alice.id, json!({"user_id": dave.id})),
            (
                "member.role_changed",
                alice.id,
                json!({"user_id": bob.id, "role": "admin"}),
            ),
            ("conversation.renamed", bob.id, json!({"title": "New name"})),
            ("text", bob.id, Value::Null),
            ("member.removed", bob.id, json!({"user_id": carol.id})),
            ("member.left", dave.id, json!({"user_id": dave.id})),
        ];
        for (message, (kind, sender, notice)) in told.iter().zip(expected) {
            let label = format!("{}: {message}", app.label());
            assert_eq!(message["kind"], kind, "{label}");
            assert_eq!(message["sender_id"], sender, "{label}");
            if kind == "text" {
                assert_eq!(keys(message), MESSAGE_KEYS, "{label}");
                assert!(message["content"].is_string(), "{label}");
            } else {
                let mut with_notice = MESSAGE_KEYS.to_vec();
                with_notice.push("notice");
                with_notice.sort_unstable();
                assert_eq!(keys(message), with_notice, "{label}");
                assert!(message["content"].is_null(), "{label}");
                assert_eq!(message["notice"], notice, "{label}");
            }
        }
        // The newest page reads the same, ascending.
        let newest = window(&app, &bob, id, "?limit=3").await;
        let newest = newest.body["messages"].as_array().unwrap();
        assert_eq!(newest[..], told[5..], "{}", app.label());
        // The members' streams got them in the same order.
        let events = replay(&app, &alice, 100).await;
        gapless(&app.label(), &events, 1);
        assert_eq!(
            types(&events),
            [
                "conversation.created",
                "message.created",
                "member.added",
                "member.updated",
                "conversation.updated",
                "message.created",
                "member.removed",
                "member.removed",
            ],
            "{}",
            app.label()
        );
        // After the group's creation, each carries its message: the text, or the notice.
        for (event, message) in events[1..].iter().zip(&told[1..]) {
            assert_eq!(
                event["message"]["id"],
                message["id"],
                "{}: {event}",
                app.label()
            );
        }
        assert_eq!(events[2]["user_id"], dave.id, "{}", app.label());
        assert_eq!(events[3]["user_id"], bob.id);
        assert_eq!(events[6]["user_id"], carol.id);
        assert_eq!(events[7]["user_id"], dave.id);
        assert_eq!(events[4]["conversation"]["title"], "New name");

        // Nobody edits or deletes a notice, not even the member who made the change.
        for message in told.iter().filter(|m| m["kind"] != "text") {
            let path = format!("/v1/messages/{}", message["id"]);
            let editor = if message["sender_id"] == bob.id {
                &bob
            } else {
                &alice
            };
            let body = Some(json!({"content": "rewritten"}));
            for reply in [
                app.call(Method::PATCH, &path, body, editor.auth()).await,
                app.call(Method::DELETE, &path, None, editor.auth()).await,
            ] {
                refused_with(&app, &reply, StatusCode::CONFLICT, "notice_unchangeable");
            }
        }
        assert_eq!(history(&app, &bob, id).await, told, "{}", app.label());
        // Notices are nobody's unread: each has one text from the other.
        for who in [&alice, &bob] {
            let seen = summary(&app, who, id).await;
            assert_eq!(seen["unread_count"], 1, "{}: {seen}", app.label());
            assert_eq!(seen["last_message"]["kind"], "member.left");
        }
        let read = mark_read(&app, &bob, id, 8).await;
        assert_eq!(read.body, json!({"last_read_seq": 8, "unread_count": 0}));
    }
}

// Joining later, and being removed.

#[tokio::test]
async fn a_member_added_later_reads_the_whole_history_and_has_only_what_follows_unread() {
    for app in apps().await {
        let [alice, bob, carol] = users(&app, ["alice", "bob", "carol"]).await;
        let id = group(&app, &alice, &[&bob]).await;
        sent(&app, &alice, id, "one").await;
        sent(&app, &bob, id, "two").await;

        let added = add(&app, &alice, id, carol.id).await;
        status_is(&app, &added, StatusCode::CREATED);
        let seen = summary(&app, &carol, id).await;
        assert_eq!(seen["role"], "member", "{}", app.label());
        assert_eq!(seen["member_count"], 3);
        assert_eq!(
            (&seen["last_seq"], &seen["last_read_seq"]),
            (&json!(4), &json!(4))
        );
        assert_eq!(seen["unread_count"], 0);
        let told = history(&app, &carol, id).await;
        assert_eq!(
            kinds(&told),
            ["group.created", "text", "text", "member.added"],
            "{}",
            app.label()
        );
        assert_eq!(told[1]["content"], "one");

        sent(&app, &bob, id, "three").await;
        assert_eq!(summary(&app, &carol, id).await["unread_count"], 1);
        sent(&app, &carol, id, "hello all").await;
        assert_eq!(summary(&app, &alice, id).await["unread_count"], 3);
        // Carol's stream starts at her joining.
        let events = replay(&app, &carol, 100).await;
        assert_eq!(
            types(&events),
            ["member.added", "message.created", "message.created"],
            "{}",
            app.label()
        );
        assert_eq!(events[0]["user_id"], carol.id);
        assert_eq!(events[0]["conversation"]["role"], "member");
        assert_eq!(events[1]["message"]["content"], "three");
    }
}

#[tokio::test]
async fn a_removed_member_is_told_once_and_then_nothing_more_of_the_group() {
    for app in apps().await {
        let [alice, bob, carol, dave] = users(&app, ["alice", "bob", "carol", "dave"]).await;
        let id = group(&app, &alice, &[&bob, &carol]).await;
        let before = sent(&app, &alice, id, "while carol is here").await;
        let keyed = send_keyed(&app, &carol, id, "carol's", "carol-1").await;
        status_is(&app, &keyed, StatusCode::CREATED);
        let mut streams = Vec::new();
        for transport in [Transport::Poll, Transport::Ws] {
            let mut live = Live::open(&app, &carol, transport, None).await;
            live.ready().await;
            streams.push(live);
        }

        done(&app, remove(&app, &alice, id, carol.id).await);
        for live in &mut streams {
            let removed = live.item().await;
            assert_eq!(
                removed["type"], "member.removed",
                "{}: {removed}",
                live.label
            );
            assert_eq!(removed["conversation_id"], id);
            assert_eq!(removed["user_id"], carol.id);
            assert!(
                removed.get("conversation").is_none(),
                "{}: {removed}",
                live.label
            );
            assert_eq!(removed["message"]["kind"], "member.removed");
        }
        sent(&app, &alice, id, "after carol").await;
        sent(&app, &bob, id, "still after").await;
        done(&app, rename(&app, &alice, id, "Without carol").await);
        done(&app, add(&app, &alice, id, dave.id).await);
        done(&app, typing(&app, &bob, id).await);
        join_all(streams.iter_mut().map(Live::quiet)).await;

        let messages = format!("/v1/conversations/{id}/messages");
        for reply in [
            app.get(&format!("/v1/conversations/{id}"), carol.auth())
                .await,
            window(&app, &carol, id, "").await,
            members(&app, &carol, id, "").await,
            app.post(&messages, json!({"content": "hello?"}), carol.auth())
                .await,
            mark_read(&app, &carol, id, 1).await,
            typing(&app, &carol, id).await,
            remove(&app, &carol, id, "me").await,
        ] {
            unknown_conversation(&app, &reply);
        }
        let old = format!("/v1/messages/{}/history", before["id"]);
        let reply = app.get(&old, carol.auth()).await;
        refused_with(&app, &reply, StatusCode::NOT_FOUND, "message_not_found");
        assert!(listed(&app, &carol).await.is_empty(), "{}", app.label());
        // Retrying a send she made while a member answers as the group does now: not found.
        let retried = send_keyed(&app, &carol, id, "carol's", "carol-1").await;
        unknown_conversation(&app, &retried);
        // Replaying her stream, she sees what happened while she was in, not what the group's
        // messages say now: no content, even after an edit; only her removal's notice.
        let edit = format!("/v1/messages/{}", before["id"]);
        let body = Some(json!({"content": "edited after carol left"}));
        done(
            &app,
            app.call(Method::PATCH, &edit, body, alice.auth()).await,
        );
        let replayed = replay(&app, &carol, 100).await;
        let of_group: Vec<Value> = replayed
            .into_iter()
            .filter(|event| event["conversation_id"] == id)
            .collect();
        assert_eq!(
            types(&of_group),
            [
                "conversation.created",
                "message.created",
                "message.created",
                "member.removed"
            ],
            "{}",
            app.label()
        );
        for event in &of_group[..3] {
            assert!(event.get("message").is_none(), "{}: {event}", app.label());
        }
        assert_eq!(of_group[3]["message"]["kind"], "member.removed");
        assert_eq!(summary(&app, &alice, id).await["member_count"], 3);
    }
}

// Members and read receipts.

#[tokio::test]
async fn members_are_paged_in_joining_order_with_their_roles_and_read_positions() {
    for app in apps().await {
        let names = ["alice", "bob", "carol", "dave", "erin"];
        let everyone = users(&app, names).await;
        let [alice, bob, carol, dave, erin] = &everyone;
        let id = group(&app, alice, &[bob, carol]).await;
        for who in [dave, erin] {
            done(&app, add(&app, alice, id, who.id).await);
        }
        sent(&app, alice, id, "hello").await;
        done(&app, mark_read(&app, carol, id, 4).await);

        let mut pages = Vec::new();
        let mut query = "?limit=2".to_owned();
        loop {
            let page = members(&app, bob, id, &query).await;
            status_is(&app, &page, StatusCode::OK);
            assert_eq!(keys(&page.body), ["members", "next_cursor"]);
            let cursor = page.body["next_cursor"].as_str().map(str::to_owned);
            pages.push(page.body["members"].as_array().unwrap().clone());
            match cursor {
                Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
                None => break,
            }
        }
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 1], "{}", app.label());
        let listed: Vec<Value> = pages.concat();
        let all = members(&app, bob, id, "").await;
        assert_eq!(all.body["members"], json!(listed), "{}", app.label());
        assert!(all.body["next_cursor"].is_null());
        let order: Vec<i64> = everyone.iter().map(|user| user.id).collect();
        let got: Vec<i64> = listed
            .iter()
            .map(|m| m["user"]["id"].as_i64().unwrap())
            .collect();
        assert_eq!(got, order, "{}", app.label());
        for (member, name) in listed.iter().zip(names) {
            assert_eq!(keys(member), ["joined_at", "last_read_seq", "role", "user"]);
            assert_eq!(keys(&member["user"]), ["full_name", "id", "username"]);
            assert_eq!(member["user"]["username"], name);
        }
        let joined: Vec<&str> = listed
            .iter()
            .map(|m| m["joined_at"].as_str().unwrap())
            .collect();
        assert!(joined.windows(2).all(|w| w[0] <= w[1]), "{joined:?}");
        let positions: Vec<&Value> = listed.iter().map(|m| &m["last_read_seq"]).collect();
        // Carol read everything; Dave and Erin start at the notices of their joining.
        assert_eq!(
            positions,
            [&json!(0), &json!(0), &json!(4), &json!(2), &json!(3)]
        );
        assert_eq!(listed[0]["role"], "owner");

        for query in ["?limit=0", "?limit=1001"] {
            invalid_field(&app, &members(&app, bob, id, query).await, "limit");
        }
        invalid_field(
            &app,
            &members(&app, bob, id, "?cursor=nope").await,
            "cursor",
        );
        done(&app, members(&app, bob, id, "?limit=1000").await);
    }
}

/// The next item of `live` is a receipt: `reader` has read up to `seq`.
async fn receipt(live: &mut Live, reader: &User, seq: i64) {
    let item = live.item().await;
    let got = [&item["type"], &item["user_id"], &item["last_read_seq"]];
    let expected = [json!("conversation.read"), json!(reader.id), json!(seq)];
    assert_eq!(got, expected.each_ref(), "{}: {item}", live.label);
}

#[tokio::test]
async fn a_read_receipt_reaches_the_reader_and_the_senders_of_what_was_read_only() {
    for app in apps().await {
        let everyone = users(&app, ["alice", "bob", "carol"]).await;
        let [alice, bob, carol] = &everyone;
        let id = group(&app, alice, &[bob, carol]).await;
        let mut streams = Vec::new();
        for who in &everyone {
            let mut live = Live::open(&app, who, Transport::Ws, None).await;
            live.ready().await;
            streams.push(live);
        }
        // Each one's unread count, and each one's read position as the members route shows it.
        let unread = async || {
            let mut counts = Vec::new();
            for who in &everyone {
                counts.push(
                    summary(&app, who, id).await["unread_count"]
                        .as_i64()
                        .unwrap(),
                );
            }
            counts
        };
        let positions = async || {
            let page = members(&app, carol, id, "").await;
            let entries = page.body["members"].as_array().unwrap().clone();
            let position = |m: &Value| m["last_read_seq"].as_i64().unwrap();
            entries.iter().map(position).collect::<Vec<_>>()
        };
        sent(&app, alice, id, "one").await;
        sent(&app, alice, id, "two").await;
        for live in &mut streams {
            let items = live.items(2).await;
            assert_eq!(types(&items), ["message.created"; 2], "{}", live.label);
        }
        assert_eq!(unread().await, [0, 2, 2], "{}", app.label());

        let read = mark_read(&app, bob, id, 3).await;
        assert_eq!(read.body, json!({"last_read_seq": 3, "unread_count": 0}));
        // Alice, who wrote what Bob read, and Bob's own devices hear of it; Carol does not.
        let [alices, bobs, carols] = &mut streams[..] else {
            unreachable!()
        };
        receipt(alices, bob, 3).await;
        receipt(bobs, bob, 3).await;
        carols.quiet().await;
        assert_eq!(positions().await, [0, 3, 0], "{}", app.label());

        sent(&app, carol, id, "three").await;
        for live in [&mut *alices, &mut *bobs, &mut *carols] {
            assert_eq!(
                live.item().await["type"],
                "message.created",
                "{}",
                live.label
            );
        }
        assert_eq!(unread().await, [1, 1, 2], "{}", app.label());
        // Bob reads Carol's message only: Carol hears of it, Alice does not.
        done(&app, mark_read(&app, bob, id, 4).await);
        receipt(bobs, bob, 4).await;
        receipt(carols, bob, 4).await;
        alices.quiet().await;
        assert_eq!(positions().await, [0, 4, 0], "{}", app.label());
        assert_eq!(unread().await, [1, 0, 2], "{}", app.label());
    }
}

// Concurrency.

#[tokio::test]
async fn concurrent_adds_removes_reads_and_sends_keep_the_history_gapless_and_streams_whole() {
    const NEWCOMERS: usize = 6;
    const SENDS: usize = 8;
    const READS: usize = 4;
    for app in apps().await {
        let [alice, bob, carol, dave] = users(&app, ["alice", "bob", "carol", "dave"]).await;
        let names: Vec<String> = (0..NEWCOMERS).map(|n| format!("newcomer{n}")).collect();
        let newcomers = join_all(names.iter().map(|name| v1_user(&app, name))).await;
        let id = group(&app, &alice, &[&bob, &carol, &dave]).await;
        done(&app, set_role(&app, &alice, id, bob.id, "admin").await);

        let app_ = &app;
        let mut changes: Vec<BoxFuture<'_, (StatusCode, Reply)>> = Vec::new();
        for (n, newcomer) in newcomers.iter().enumerate() {
            let by = if n % 2 == 0 { &alice } else { &bob };
            changes.push(Box::pin(async move {
                (StatusCode::CREATED, add(app_, by, id, newcomer.id).await)
            }));
        }
        for (by, leaving) in [(&alice, &carol), (&bob, &dave)] {
            changes.push(Box::pin(async move {
                (
                    StatusCode::NO_CONTENT,
                    remove(app_, by, id, leaving.id).await,
                )
            }));
        }
        for n in 0..SENDS {
            for who in [&alice, &bob] {
                let path = format!("/v1/conversations/{id}/messages");
                changes.push(Box::pin(async move {
                    let body = json!({"content": format!("{n} from {}", who.id)});
                    (
                        StatusCode::CREATED,
                        app_.post(&path, body, who.auth()).await,
                    )
                }));
            }
        }
        // Read positions move meanwhile (each takes a member row, and stream heads).
        for who in [&alice, &bob].repeat(READS) {
            changes.push(Box::pin(async move {
                (StatusCode::OK, mark_read(app_, who, id, 1000).await)
            }));
        }
        for (expected, reply) in join_all(changes).await {
            status_is(&app, &reply, expected);
        }

        let told = history(&app, &alice, id).await;
        let total = 2 + NEWCOMERS + 2 + 2 * SENDS;
        let seqs: Vec<i64> = told.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=total as i64).collect::<Vec<_>>(),
            "{}",
            app.label()
        );
        let unique: BTreeSet<i64> = told.iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert_eq!(unique.len(), total);
        let mut expected: BTreeSet<i64> = newcomers.iter().map(|u| u.id).collect();
        expected.extend([alice.id, bob.id]);
        let roles = roles(&app, &bob, id).await;
        let present = roles
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| pair[0].as_i64().unwrap());
        assert_eq!(
            present.collect::<BTreeSet<_>>(),
            expected,
            "{}",
            app.label()
        );
        assert_eq!(
            summary(&app, &alice, id).await["member_count"],
            expected.len()
        );

        // Each member's stream has every text sent while they were in the group, once.
        let notice_about = |kind: &str, user: i64| {
            let found = told
                .iter()
                .find(|m| m["kind"] == kind && m["notice"]["user_id"] == user);
            found.map_or(0, |m| m["seq"].as_i64().unwrap())
        };
        let texts = told.iter().filter(|m| m["kind"] == "text");
        let texts: Vec<i64> = texts.map(|m| m["seq"].as_i64().unwrap()).collect();
        let everyone = [&alice, &bob, &carol, &dave].into_iter().chain(&newcomers);
        for who in everyone {
            let joined = notice_about("member.added", who.id);
            let left = match notice_about("member.removed", who.id) {
                0 => i64::MAX,
                seq => seq,
            };
            let due: Vec<i64> = texts
                .iter()
                .copied()
                .filter(|&seq| seq > joined && seq < left)
                .collect();
            let events = replay(&app, who, 1000).await;
            let label = format!("{} user {}", app.label(), who.id);
            gapless(&label, &events, 1);
            let created = events.iter().filter(|e| e["type"] == "message.created");
            if left == i64::MAX {
                let got: Vec<i64> = created
                    .map(|e| e["message"]["seq"].as_i64().unwrap())
                    .collect();
                assert_eq!(got, due, "{label}");
            } else {
                // Out of the group now: the events are there, the group's messages are not.
                let created: Vec<&Value> = created.collect();
                assert_eq!(created.len(), due.len(), "{label}");
                assert!(
                    created.iter().all(|e| e.get("message").is_none()),
                    "{label}"
                );
            }
        }
    }
}

// Typing.

/// The next item of `live` says that `user` is typing in `conversation`, and nothing else.
async fn hears_typing(live: &mut Live, conversation: i64, user: &User) {
    let expected = json!({"type": "typing", "conversation_id": conversation, "user_id": user.id});
    assert_eq!(live.item().await, expected, "{}", live.label);
}

#[tokio::test]
async fn typing_reaches_the_other_members_streams_once_and_nobody_else() {
    // The streams below, by whose they are.
    const ALICE: usize = 0;
    const BOB: usize = 1;
    const CAROL: usize = 2;
    const EVE: usize = 3;
    // With Redis too (when configured): typing goes through its doorbell and gate.
    for Cached { app, redis: _redis } in cached_apps().await {
        let [alice, bob, carol, eve] = users(&app, ["alice", "bob", "carol", "eve"]).await;
        let id = group(&app, &alice, &[&bob, &carol]).await;
        let direct = conversation(&app, &alice, &eve).await;
        let mut streams = Vec::new();
        for (who, transport) in [
            (&alice, Transport::Ws),
            (&bob, Transport::Ws),
            (&carol, Transport::Sse),
            (&eve, Transport::Ws),
            // Typing is not for long-polls.
            (&bob, Transport::Poll),
        ] {
            let mut live = Live::open(&app, who, transport, None).await;
            live.ready().await;
            streams.push(live);
        }
        let typing_frame = json!({"type": "typing", "conversation_id": id});

        // Over the WebSocket: the others get it, once; not the typer, not an outsider.
        streams[ALICE].say(typing_frame.clone()).await;
        hears_typing(&mut streams[BOB], id, &alice).await;
        hears_typing(&mut streams[CAROL], id, &alice).await;
        // More within a few seconds is coalesced into the first, on either way in.
        tokio::time::sleep(Duration::from_millis(300)).await;
        streams[ALICE].say(typing_frame.clone()).await;
        done(&app, typing(&app, &alice, id).await);
        join_all(streams.iter_mut().map(Live::quiet)).await;

        // Over HTTP.
        done(&app, typing(&app, &bob, id).await);
        hears_typing(&mut streams[ALICE], id, &bob).await;
        hears_typing(&mut streams[CAROL], id, &bob).await;
        // An outsider's typing goes nowhere, whichever way it comes.
        unknown_conversation(&app, &typing(&app, &eve, id).await);
        streams[EVE].say(typing_frame).await;
        join_all(streams.iter_mut().map(Live::quiet)).await;
        // In a direct conversation too.
        done(&app, typing(&app, &eve, direct).await);
        hears_typing(&mut streams[ALICE], direct, &eve).await;
        join_all(streams.iter_mut().map(Live::quiet)).await;
    }
}

#[tokio::test]
async fn with_redis_typing_on_one_instance_reaches_a_stream_on_the_other() {
    let Some((first, second, _redis)) = two_instances_with_redis().await else {
        return;
    };
    let [alice, bob] = users(&first, ["alice", "bob"]).await;
    let id = group(&first, &alice, &[&bob]).await;
    let mut bobs = Live::open(&second, &bob, Transport::Ws, None).await;
    let mut alices = Live::open(&first, &alice, Transport::Ws, None).await;
    bobs.ready().await;
    alices.ready().await;

    done(&first, typing(&first, &alice, id).await);
    hears_typing(&mut bobs, id, &alice).await;
    bobs.say(json!({"type": "typing", "conversation_id": id}))
        .await;
    hears_typing(&mut alices, id, &bob).await;
    // Coalesced across instances: the gate is in Redis.
    done(&second, typing(&second, &alice, id).await);
    join_all([&mut bobs, &mut alices].map(Live::quiet)).await;
}

// The compatibility faces.

#[tokio::test]
async fn the_compatibility_faces_show_nothing_of_groups() {
    for app in apps().await {
        let [alice, bob, carol] = users(&app, ["alice", "bob", "carol"]).await;
        let direct = conversation(&app, &alice, &bob).await;
        sent(&app, &alice, direct, "just us").await;
        let id = group(&app, &alice, &[&bob, &carol]).await;
        let in_group = sent(&app, &alice, id, "to the group").await;
        sent(&app, &bob, id, "group reply").await;

        // The Message Service's list, and the Chat Service's history with a group member.
        let listed = app.get("/messages/", alice.auth()).await;
        status_is(&app, &listed, StatusCode::OK);
        assert_eq!(
            strings(&listed.body, "content"),
            ["just us"],
            "{}",
            app.label()
        );
        let path = format!("/messages?peer_id={}&limit=100", bob.id);
        let chat = app.get(&path, alice.auth()).await;
        status_is(&app, &chat, StatusCode::OK);
        assert_eq!(strings(&chat.body["messages"], "content"), ["just us"]);
        assert_eq!(chat.body["total"], 1, "{}", app.label());
        // Carol is in a group only: the faces know of no message of hers.
        let none = app.get("/messages/", carol.auth()).await;
        status_is(&app, &none, StatusCode::NOT_FOUND);
        let path = format!("/messages?peer_id={}&limit=100", alice.id);
        let chat = app.get(&path, carol.auth()).await;
        assert_eq!(chat.body["total"], 0, "{}: {}", app.label(), chat.body);

        // A group message cannot be edited there, even by its sender.
        let path = format!("/messages/{}", in_group["id"]);
        let edit = app
            .put(&path, json!({"content": "changed"}), alice.auth())
            .await;
        status_is(&app, &edit, StatusCode::NOT_FOUND);
        assert_eq!(edit.detail(), "Message not found", "{}", app.label());
        let told = history(&app, &alice, id).await;
        assert_eq!(told[1]["content"], "to the group", "{}", app.label());
        assert!(told[1]["edited_at"].is_null());
    }
}

// Every transport hears a group's changes.

#[tokio::test]
async fn every_transport_hears_a_groups_changes_with_the_conversation_as_each_sees_it() {
    for app in apps().await {
        let [alice, bob] = users(&app, ["alice", "bob"]).await;
        let id = group(&app, &alice, &[]).await;
        done(&app, add(&app, &alice, id, bob.id).await);
        done(&app, set_role(&app, &alice, id, bob.id, "admin").await);
        done(&app, rename(&app, &bob, id, "Two of us").await);
        for transport in TRANSPORTS {
            let expected = ["member.added", "member.updated", "conversation.updated"];
            let (mut live, items) = from_the_start(&app, &bob, transport, &expected).await;
            for item in &items {
                let seen = &item["conversation"];
                assert_eq!(keys(seen), group_keys(), "{}: {item}", live.label);
                // As it is now, not as it was then.
                assert_eq!(seen["role"], "admin", "{}", live.label);
                assert_eq!(seen["title"], "Two of us", "{}", live.label);
            }
            live.ready().await;
        }
    }
}

#[tokio::test]
async fn deleting_an_owners_account_hands_the_group_over_and_tells_the_members() {
    for app in apps().await {
        let [alice, bob, carol] = users(&app, ["alice", "bob", "carol"]).await;
        let id = group(&app, &alice, &[&bob, &carol]).await;
        done(&app, set_role(&app, &alice, id, carol.id, "admin").await);
        let mut bobs = Live::open(&app, &bob, Transport::Ws, None).await;
        bobs.ready().await;

        app.core
            .delete_user(missive_store::UserId(alice.id))
            .await
            .unwrap();

        let left = bobs.item().await;
        assert_eq!(left["type"], "member.removed", "{}: {left}", app.label());
        assert_eq!(left["user_id"], alice.id);
        let handed = bobs.item().await;
        assert_eq!(
            handed["type"],
            "member.updated",
            "{}: {handed}",
            app.label()
        );
        assert_eq!(handed["user_id"], carol.id);
        let expected = json!([[carol.id, "owner"], [bob.id, "member"]]);
        let mut roles = roles(&app, &bob, id).await;
        roles
            .as_array_mut()
            .unwrap()
            .sort_by_key(|r| r[1].as_str().unwrap() != "owner");
        assert_eq!(roles, expected, "{}", app.label());
        // The new owner runs the group.
        done(&app, rename(&app, &carol, id, "Carol's now").await);
    }
}
