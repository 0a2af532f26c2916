//! The store's contract: every `Store` method, run on SQLite always and on PostgreSQL when
//! `TEST_DATABASE_URL` is set. Each test gets fresh databases from `TestDb::all()`, so tests
//! never see each other's rows.

use std::fmt::{Debug, Display};

use futures::future::join_all;
use missive_store::testing::TestDb;
use missive_store::{Backend, ConflictKind, Conversation, Message, NewUser, Page, SqlStore};
use missive_store::{Store, StoreError, User};

/// An id no test ever creates.
const UNKNOWN: i64 = 9_999_999;

/// Unwraps a result or option; the panic names the backend (and, via `track_caller`, the line).
trait Must<T> {
    fn must(self, backend: Backend) -> T;
}

impl<T, E: Display> Must<T> for Result<T, E> {
    #[track_caller]
    fn must(self, backend: Backend) -> T {
        self.unwrap_or_else(|err| panic!("{backend:?}: unexpected error: {err}"))
    }
}

impl<T> Must<T> for Option<T> {
    #[track_caller]
    fn must(self, backend: Backend) -> T {
        self.unwrap_or_else(|| panic!("{backend:?}: expected a value, found None"))
    }
}

#[track_caller]
fn assert_not_found<T: Debug>(result: Result<T, StoreError>, b: Backend) {
    let ok = matches!(result, Err(StoreError::NotFound));
    assert!(ok, "{b:?}: expected NotFound, got {result:?}");
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: format!("{name}@example.test"),
        full_name: Some(format!("{name} Example")),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
    }
}

async fn users<const N: usize>(store: &SqlStore, names: [&str; N]) -> [User; N] {
    let mut created = Vec::with_capacity(N);
    for name in names {
        let user = store.create_user(new_user(name)).await;
        created.push(user.must(store.backend()));
    }
    created.try_into().expect("one user per name")
}

async fn send(store: &SqlStore, from: &User, to: &User, content: &str) -> Message {
    let sent = store.send_direct_message(from.id, to.id, content).await;
    sent.must(store.backend())
}

async fn open(store: &SqlStore, a: &User, b: &User) -> Conversation {
    let opened = store.open_direct_conversation(a.id, b.id).await;
    opened.must(store.backend())
}

async fn find(store: &SqlStore, a: i64, b: i64) -> Option<Conversation> {
    store.direct_conversation(a, b).await.must(store.backend())
}

async fn history(store: &SqlStore, a: &User, b: &User, limit: i64, offset: i64) -> Page<Message> {
    let page = store.direct_history(a.id, b.id, limit, offset).await;
    page.must(store.backend())
}

async fn of_user(store: &SqlStore, user: i64, limit: i64, offset: i64) -> Vec<String> {
    let listed = store.messages_of_user(user, limit, offset).await;
    let messages = listed.must(store.backend());
    messages.into_iter().map(|m| m.content).collect()
}

fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

fn contents(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

/// A page's contents and total, for compact comparisons.
fn summary(page: &Page<Message>) -> (Vec<&str>, i64) {
    (contents(&page.items), page.total)
}

#[tokio::test]
async fn ping_succeeds_on_a_fresh_database() {
    for db in TestDb::all().await {
        db.store().ping().await.must(db.backend());
    }
}

#[tokio::test]
async fn created_user_is_found_by_id_email_and_username_ignoring_case() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["Alice"]).await;
        let mut anonymous = new_user("nobody");
        anonymous.full_name = None;

        let nobody = store.create_user(anonymous).await.must(b);
        let by_id = store.user_by_id(alice.id).await.must(b);
        let by_email = store.user_by_email("ALICE@EXAMPLE.TEST").await.must(b);
        let by_name = store.user_by_username("aLiCe").await.must(b);

        let given = (alice.username.as_str(), alice.email.as_str());
        assert_eq!(given, ("Alice", "Alice@example.test"), "{b:?}");
        assert_eq!(alice.full_name.as_deref(), Some("Alice Example"), "{b:?}");
        assert_eq!(alice.created_at, alice.last_active_at, "{b:?}");
        assert_ne!(alice.id, nobody.id, "{b:?}: ids are distinct");
        let found = [by_id, by_email, by_name];
        let all_alice = found.iter().all(|u| u.as_ref() == Some(&alice));
        assert!(all_alice, "{b:?}: lookups ignore case: {found:?}");
        let stored = store.user_by_id(nobody.id).await.must(b);
        assert_eq!(stored.must(b).full_name, None, "{b:?}: no full name");
        assert_eq!(store.user_by_id(UNKNOWN).await.must(b), None, "{b:?}");
        assert_eq!(store.user_by_email("x@y.test").await.must(b), None, "{b:?}");
        assert_eq!(store.user_by_username("ghost").await.must(b), None, "{b:?}");
    }
}

#[tokio::test]
async fn create_user_reports_which_field_is_taken_ignoring_case() {
    use ConflictKind::{Email, Username};
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        users(&store, ["alice"]).await;
        let mut same_name = new_user("ALICE");
        same_name.email = "other@example.test".into();
        let mut same_email = new_user("alicia");
        same_email.email = "Alice@Example.TEST".into();

        let conflicts = [
            (store.create_user(same_name).await, Username),
            (store.create_user(same_email).await, Email),
            // Both taken: the username is reported.
            (store.create_user(new_user("Alice")).await, Username),
        ];

        for (result, expected) in conflicts {
            let ok = matches!(result, Err(StoreError::Conflict(kind)) if kind == expected);
            assert!(ok, "{b:?}: expected Conflict({expected:?}), got {result:?}");
        }
        let stray = store.user_by_username("alicia").await.must(b);
        assert_eq!(stray, None, "{b:?}: a conflict creates nothing");
        let fresh = store.create_user(new_user("bob")).await;
        assert!(fresh.is_ok(), "{b:?}: usable after conflicts: {fresh:?}");
    }
}

#[tokio::test]
async fn touch_user_moves_last_active_forward_and_rejects_unknown_ids() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;

        store.touch_user(alice.id).await.must(b);

        let touched = store.user_by_id(alice.id).await.must(b).must(b);
        assert!(touched.last_active_at > alice.last_active_at, "{b:?}");
        assert_eq!(touched.created_at, alice.created_at, "{b:?}");
        assert_not_found(store.touch_user(UNKNOWN).await, b);
    }
}

#[tokio::test]
async fn delete_user_removes_their_conversations_and_messages_only() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let to_bob = send(&store, &alice, &bob, "hi bob").await;
        let reply = send(&store, &bob, &alice, "hi alice").await;
        store.edit_message(to_bob.id, alice.id, "hi!").await.must(b);
        let kept = send(&store, &bob, &carol, "hi carol").await;

        store.delete_user(alice.id).await.must(b);

        let gone = store.user_by_id(alice.id).await.must(b);
        assert_eq!(gone, None, "{b:?}: user gone");
        let convo = find(&store, alice.id, bob.id).await;
        assert_eq!(convo, None, "{b:?}: conversation gone");
        for gone in [&to_bob, &reply] {
            let found = store.message_by_id(gone.id).await.must(b);
            assert_eq!(found, None, "{b:?}: message {:?} gone", gone.content);
        }
        let versions = store.message_versions(to_bob.id).await.must(b);
        assert!(versions.is_empty(), "{b:?}: versions gone: {versions:?}");
        let bobs = store.messages_of_user(bob.id, 100, 0).await.must(b);
        assert_eq!(bobs, [kept], "{b:?}: bob keeps his other conversation only");
        let left = history(&store, &bob, &alice, 10, 0).await;
        assert_eq!(summary(&left), (vec![], 0), "{b:?}: no history left");
        assert_not_found(store.delete_user(alice.id).await, b);
        assert_not_found(store.delete_user(UNKNOWN).await, b);
        let again = store.create_user(new_user("alice")).await;
        assert!(again.is_ok(), "{b:?}: name and e-mail free: {again:?}");
    }
}

#[tokio::test]
async fn open_direct_conversation_is_the_same_whichever_member_asks() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let before = find(&store, alice.id, bob.id).await;

        let first = open(&store, &bob, &alice).await;
        let again = open(&store, &alice, &bob).await;
        let twice = open(&store, &bob, &alice).await;
        let other = open(&store, &alice, &carol).await;

        assert_eq!(before, None, "{b:?}: no conversation before opening");
        assert_eq!(again, first, "{b:?}: same for the other member");
        assert_eq!(twice, first, "{b:?}: opening is idempotent");
        assert_ne!(other.id, first.id, "{b:?}: another pair");
        let pair = (first.user_low, first.user_high);
        assert_eq!(pair, (alice.id.min(bob.id), alice.id.max(bob.id)), "{b:?}");
        assert_eq!(first.last_seq, 0, "{b:?}: no messages yet");
        for (x, y) in [(alice.id, bob.id), (bob.id, alice.id)] {
            let found = find(&store, x, y).await;
            assert_eq!(found.as_ref(), Some(&first), "{b:?}: ({x}, {y})");
        }
        let unopened = find(&store, bob.id, carol.id).await;
        assert_eq!(unopened, None, "{b:?}: never opened");
    }
}

#[tokio::test]
async fn open_direct_conversation_with_an_unknown_user_is_not_found() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;

        let forward = store.open_direct_conversation(alice.id, UNKNOWN).await;
        let backward = store.open_direct_conversation(UNKNOWN, alice.id).await;

        assert_not_found(forward, b);
        assert_not_found(backward, b);
        let created = find(&store, alice.id, UNKNOWN).await;
        assert_eq!(created, None, "{b:?}: nothing created");
    }
}

#[tokio::test]
async fn a_user_can_converse_with_themselves() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;

        let notes = open(&store, &alice, &alice).await;
        let note = send(&store, &alice, &alice, "remember the milk").await;

        let pair = (notes.user_low, notes.user_high);
        assert_eq!(pair, (alice.id, alice.id), "{b:?}");
        assert_eq!(note.conversation_id, notes.id, "{b:?}: same conversation");
        assert_eq!((note.seq, note.recipient_id), (1, alice.id), "{b:?}");
        let mine = store.messages_of_user(alice.id, 10, 0).await.must(b);
        assert_eq!(mine, std::slice::from_ref(&note), "{b:?}: listed once");
        let page = history(&store, &alice, &alice, 10, 0).await;
        assert_eq!((page.items, page.total), (vec![note], 1), "{b:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_of_the_same_pair_yield_one_conversation() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;

        let tasks = (0..20).map(|i| {
            let store = store.clone();
            let (x, y) = [(alice.id, bob.id), (bob.id, alice.id)][i % 2];
            tokio::spawn(async move { store.open_direct_conversation(x, y).await })
        });
        let opened = join_all(tasks).await;

        let stored = find(&store, alice.id, bob.id).await.must(b);
        for result in opened {
            let conversation = result.must(b).must(b);
            assert_eq!(conversation, stored, "{b:?}: one conversation");
        }
    }
}

#[tokio::test]
async fn send_numbers_messages_per_conversation_and_names_the_recipient() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;

        let first = send(&store, &alice, &bob, "one").await;
        let second = send(&store, &bob, &alice, "two").await;
        let third = send(&store, &alice, &bob, "three").await;
        let elsewhere = send(&store, &carol, &alice, "other").await;

        let sent = [first.clone(), second.clone(), third.clone()];
        assert_eq!(seqs(&sent), [1, 2, 3], "{b:?}: seq counts up");
        assert_eq!(elsewhere.seq, 1, "{b:?}: each conversation counts from 1");
        assert_ne!(elsewhere.conversation_id, first.conversation_id, "{b:?}");
        let ends = |m: &Message| (m.sender_id, m.recipient_id);
        assert_eq!(ends(&first), (alice.id, bob.id), "{b:?}: alice to bob");
        assert_eq!(ends(&second), (bob.id, alice.id), "{b:?}: bob to alice");
        assert_eq!(ends(&elsewhere), (carol.id, alice.id), "{b:?}");
        assert_eq!((first.edited_at, first.deleted_at), (None, None), "{b:?}");
        assert!(first.created_at <= third.created_at, "{b:?}");
        let convo = find(&store, bob.id, alice.id).await.must(b);
        let expected = (first.conversation_id, 3);
        assert_eq!((convo.id, convo.last_seq), expected, "{b:?}");
        for message in [first, second, third, elsewhere] {
            let stored = store.message_by_id(message.id).await.must(b);
            assert_eq!(stored, Some(message), "{b:?}: stored as returned");
        }
        assert_eq!(store.message_by_id(UNKNOWN).await.must(b), None, "{b:?}");
    }
}

#[tokio::test]
async fn sending_to_or_from_an_unknown_user_is_not_found_and_opens_nothing() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;

        let to_nobody = store.send_direct_message(alice.id, UNKNOWN, "hello?").await;
        let from_nobody = store.send_direct_message(UNKNOWN, alice.id, "boo").await;

        assert_not_found(to_nobody, b);
        assert_not_found(from_nobody, b);
        let opened = find(&store, alice.id, UNKNOWN).await;
        assert_eq!(opened, None, "{b:?}: nothing opened");
        let listed = of_user(&store, alice.id, 10, 0).await;
        assert!(listed.is_empty(), "{b:?}: nothing sent: {listed:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn send_assigns_gapless_seq_under_concurrency() {
    const N: i64 = 200;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;

        // No conversation exists yet, so the first sends also race to open it.
        let tasks = (0..N as usize).map(|i| {
            let store = store.clone();
            let (from, to) = [(alice.id, bob.id), (bob.id, alice.id)][i % 2];
            let content = format!("message {i}");
            tokio::spawn(async move { store.send_direct_message(from, to, &content).await })
        });
        let results = join_all(tasks).await;

        let sent: Vec<Message> = results.into_iter().map(|r| r.must(b).must(b)).collect();
        let mut got = seqs(&sent);
        got.sort_unstable();
        assert_eq!(got, (1..=N).collect::<Vec<_>>(), "{b:?}: exactly 1..={N}");
        let convo = find(&store, alice.id, bob.id).await.must(b);
        let one = sent.iter().all(|m| m.conversation_id == convo.id);
        assert!(one, "{b:?}: all in one conversation");
        assert_eq!(convo.last_seq, N, "{b:?}: last_seq counts every message");
        let stored = history(&store, &alice, &bob, N + 1, 0).await;
        assert_eq!(stored.total, N, "{b:?}: every message stored");
        let newest_first: Vec<i64> = (1..=N).rev().collect();
        assert_eq!(seqs(&stored.items), newest_first, "{b:?}");
    }
}

#[tokio::test]
async fn content_round_trips_exactly() {
    let samples = [
        "plain ascii",
        "ünïcödé — ñ ß ø, 中文, 日本語, 한국어",
        "emoji 👋🏽 👨‍👩‍👧‍👦 🏳️‍🌈",
        "RTL: مرحبا بالعالم and שלום עולם",
        r#"quotes ' " ` and \backslashes\ and $1 ? :name %s"#,
        "'); DROP TABLE users; --",
        "line one\nline two\r\n\ttabbed  ",
        "   ",
        "",
    ];
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;

        for content in samples {
            let sent = send(&store, &alice, &bob, content).await;
            let stored = store.message_by_id(sent.id).await.must(b).must(b);
            assert_eq!(stored.content, content, "{b:?}: as sent");
            let edit = format!("{content}✎");
            let edited = store.edit_message(sent.id, alice.id, &edit).await.must(b);
            assert_eq!(edited.content, edit, "{b:?}: as edited");
            let versions = store.message_versions(sent.id).await.must(b);
            assert_eq!(versions[0].0, content, "{b:?}: kept version");
        }

        let page = history(&store, &bob, &alice, 100, 0).await;
        let listed: Vec<&str> = contents(&page.items).into_iter().rev().collect();
        let expected: Vec<String> = samples.iter().map(|s| format!("{s}✎")).collect();
        assert_eq!(listed, expected, "{b:?}: history returns contents intact");
        let survivor = store.user_by_id(alice.id).await.must(b);
        assert_eq!(survivor, Some(alice), "{b:?}: users table intact");
    }
}

#[tokio::test]
async fn only_the_sender_can_edit_and_earlier_contents_are_kept_in_order() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let original = send(&store, &alice, &bob, "v1").await;
        let unedited = send(&store, &bob, &alice, "reply").await;

        assert_not_found(store.edit_message(original.id, bob.id, "hijack").await, b);
        assert_not_found(store.edit_message(UNKNOWN, alice.id, "ghost").await, b);
        let untouched = store.message_by_id(original.id).await.must(b);
        assert_eq!(untouched.as_ref(), Some(&original), "{b:?}: unchanged");
        let none_yet = store.message_versions(original.id).await.must(b);
        assert!(none_yet.is_empty(), "{b:?}: {none_yet:?}");

        let v2 = store.edit_message(original.id, alice.id, "v2").await;
        let v3 = store.edit_message(original.id, alice.id, "v3").await;

        let (v2, v3) = (v2.must(b), v3.must(b));
        let edited_at = v3.edited_at.must(b);
        assert!(v2.edited_at.must(b) <= edited_at, "{b:?}: edits in order");
        assert!(edited_at >= original.created_at, "{b:?}");
        let mut expected = original;
        (expected.content, expected.edited_at) = ("v3".into(), Some(edited_at));
        assert_eq!(v3, expected, "{b:?}: only content and edited_at change");
        let stored = store.message_by_id(v3.id).await.must(b);
        assert_eq!(stored, Some(v3.clone()), "{b:?}: stored as returned");
        let versions = store.message_versions(v3.id).await.must(b);
        let kept: Vec<&str> = versions.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(kept, ["v1", "v2"], "{b:?}: earlier contents, oldest first");
        assert!(versions[0].1 <= versions[1].1, "{b:?}: replaced in order");
        assert_eq!(versions[1].1, edited_at, "{b:?}: replaced by the last edit");
        for id in [unedited.id, UNKNOWN] {
            let none = store.message_versions(id).await.must(b);
            assert!(none.is_empty(), "{b:?}: no versions: {none:?}");
        }
        let next = send(&store, &bob, &alice, "after edits").await;
        assert_eq!(next.seq, 3, "{b:?}: edits take no sequence numbers");
    }
}

#[tokio::test]
async fn messages_of_user_are_sent_and_received_oldest_first_and_paginated() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        send(&store, &alice, &bob, "a1").await;
        send(&store, &bob, &carol, "not alice's").await;
        send(&store, &carol, &alice, "a2").await;
        send(&store, &bob, &alice, "a3").await;
        send(&store, &alice, &carol, "a4").await;

        let all = of_user(&store, alice.id, 100, 0).await;
        let page = of_user(&store, alice.id, 2, 1).await;
        let past_end = of_user(&store, alice.id, 10, 4).await;
        let stranger = of_user(&store, UNKNOWN, 10, 0).await;

        assert_eq!(all, ["a1", "a2", "a3", "a4"], "{b:?}: oldest first");
        assert_eq!(page, ["a2", "a3"], "{b:?}: limit and offset");
        assert!(past_end.is_empty(), "{b:?}: past the end: {past_end:?}");
        assert!(stranger.is_empty(), "{b:?}: unknown user: {stranger:?}");
        let bobs = of_user(&store, bob.id, 100, 0).await;
        assert_eq!(bobs, ["a1", "not alice's", "a3"], "{b:?}: bob's view");
    }
}

#[tokio::test]
async fn direct_history_is_newest_first_paginated_and_limited_to_the_pair() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        for i in 1..=5 {
            let (from, to) = [(&bob, &alice), (&alice, &bob)][i % 2];
            send(&store, from, to, &format!("ab{i}")).await;
        }
        send(&store, &alice, &carol, "ac1").await;
        send(&store, &bob, &carol, "bc1").await;

        let first = history(&store, &alice, &bob, 2, 0).await;
        let last = history(&store, &bob, &alice, 2, 4).await;
        let whole = history(&store, &bob, &alice, 50, 0).await;
        let beyond = history(&store, &alice, &bob, 2, 10).await;
        let with_carol = history(&store, &carol, &alice, 10, 0).await;

        assert_eq!(summary(&first), (vec!["ab5", "ab4"], 5), "{b:?}");
        assert_eq!(summary(&last), (vec!["ab1"], 5), "{b:?}: last page");
        assert_eq!(seqs(&whole.items), [5, 4, 3, 2, 1], "{b:?}: pair only");
        assert_eq!(summary(&beyond), (vec![], 5), "{b:?}: past the end");
        assert_eq!(summary(&with_carol), (vec!["ac1"], 1), "{b:?}");
        let none = store.direct_history(alice.id, UNKNOWN, 10, 0).await.must(b);
        assert_eq!(summary(&none), (vec![], 0), "{b:?}: no conversation");
    }
}
