//! Injected faults (the `testing` feature): a store whose database is down answers
//! `Unavailable` from every method, reads and writes alike, writes nothing, and serves again
//! once the fault is cleared. The switch is shared by a store's clones, not by other stores.

use std::fmt::Debug;
use std::time::Duration;

use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{Backend, Fault, HistoryWindow, Idempotency, StoreError, Timestamp};

use crate::{Must, last_seq, new_user, open, post, users};

#[track_caller]
fn assert_unavailable<T: Debug>(result: Result<T, StoreError>, b: Backend, what: &str) {
    let ok = matches!(result, Err(StoreError::Unavailable(_)));
    assert!(ok, "{b:?}: {what}: expected Unavailable, got {result:?}");
}

#[tokio::test]
async fn a_down_database_is_unavailable_to_every_method_until_it_comes_back() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let message = post(&store, convo, &alice, "before").await;
        let key = Idempotency {
            key: "k",
            request_hash: "h",
            expires_before: Timestamp(0),
        };
        let other = db.store();

        // Set on a clone: the store it was cloned from fails too.
        store.clone().faults().set(Fault::Down);

        assert_unavailable(store.ping().await, b, "ping");
        assert_unavailable(store.user_by_id(alice.id).await, b, "user_by_id");
        let created = store.create_user(new_user("carol")).await;
        assert_unavailable(created, b, "create_user");
        let opened = store.open_direct_conversation(alice.id, alice.id).await;
        assert_unavailable(opened, b, "open_direct_conversation");
        let plain = store.send_message(convo, alice.id, "lost", None).await;
        assert_unavailable(plain, b, "send_message");
        let keyed = store.send_message(convo, alice.id, "lost", Some(key)).await;
        assert_unavailable(keyed, b, "send_message with a key");
        let direct = store.send_direct_message(bob.id, alice.id, "lost").await;
        assert_unavailable(direct, b, "send_direct_message");
        let edited = store.edit_message(message.id, alice.id, "lost").await;
        assert_unavailable(edited, b, "edit_message");
        let read = store.message_versions(message.id, alice.id).await;
        assert_unavailable(read, b, "message_versions");
        let window = store.conversation_messages(convo, bob.id, HistoryWindow::Latest, 10);
        assert_unavailable(window.await, b, "conversation_messages");
        let history = store.direct_history(alice.id, bob.id, 10, 0).await;
        assert_unavailable(history, b, "direct_history");
        assert_unavailable(store.mark_read(convo, bob.id, 1).await, b, "mark_read");
        // Another store on the same database is not affected.
        other.ping().await.must(b);
        assert_eq!(
            last_seq(&other, &alice, &bob).await,
            1,
            "{b:?}: nothing sent"
        );
        let carol = other.user_by_username("carol").await.must(b);
        assert_eq!(carol, None, "{b:?}: nothing created");

        store.faults().set(Fault::None);

        store.ping().await.must(b);
        let next = post(&store, convo, &bob, "after").await;
        assert_eq!(next.seq, 2, "{b:?}: serving again, no seq lost");
        let state = store.read_state(convo, bob.id).await.must(b);
        assert_eq!(
            state.last_read_seq, 0,
            "{b:?}: the failed mark changed nothing"
        );
    }
}

#[tokio::test]
async fn a_slow_database_makes_every_statement_wait() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        store.faults().set(Fault::Slow(Duration::from_millis(500)));

        let waited = tokio::time::timeout(Duration::from_millis(50), store.ping()).await;

        assert!(waited.is_err(), "{b:?}: the ping should still be waiting");
        store.faults().set(Fault::None);
        store.ping().await.must(b);
    }
}
