//! Deleting a message for everyone (a tombstone keeps its seq) and hiding it for oneself.

use missive_store::MessageId;
use missive_store::testing::TestDb;
use missive_store::{HistoryWindow, Store};

use crate::{Must, UNKNOWN, assert_not_found, contents, history, last_seq, of_user, send};
use crate::{span, summary, users, window};

#[tokio::test]
async fn deleting_a_message_leaves_a_tombstone_at_its_seq_and_forgets_its_versions() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let doomed = send(&store, &alice, &bob, "v1").await;
        store.edit_message(doomed.id, alice.id, "v2").await.must(b);
        send(&store, &bob, &alice, "reply").await;

        let tombstone = store.delete_message(doomed.id, alice.id).await.must(b);

        let deleted_at = tombstone.deleted_at.must(b);
        assert!(deleted_at >= doomed.created_at, "{b:?}");
        let kept = (tombstone.id, tombstone.seq, tombstone.sender_id);
        assert_eq!(kept, (doomed.id, 1, alice.id), "{b:?}: keeps its place");
        assert_eq!(tombstone.content, "", "{b:?}: content gone");
        let stored = store.message_by_id(doomed.id).await.must(b);
        assert_eq!(
            stored.as_ref(),
            Some(&tombstone),
            "{b:?}: stored as returned"
        );
        let versions = store.message_versions(doomed.id).await.must(b);
        assert!(
            versions.is_empty(),
            "{b:?}: versions forgotten: {versions:?}"
        );
        assert_eq!(last_seq(&store, &alice, &bob).await, 2, "{b:?}: seq kept");
        let next = send(&store, &alice, &bob, "next").await;
        assert_eq!(next.seq, 3, "{b:?}: no seq reused");
    }
}

#[tokio::test]
async fn only_the_sender_deletes_and_deleting_twice_changes_nothing() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let message = send(&store, &alice, &bob, "mine").await;

        let by_bob = store.delete_message(message.id, bob.id).await;
        let untouched = store.message_by_id(message.id).await.must(b);
        let first = store.delete_message(message.id, alice.id).await.must(b);
        let second = store.delete_message(message.id, alice.id).await.must(b);

        assert_not_found(by_bob, b);
        assert_eq!(
            untouched,
            Some(message.clone()),
            "{b:?}: bob changed nothing"
        );
        assert_eq!(second, first, "{b:?}: the same tombstone");
        assert_not_found(store.delete_message(message.id, bob.id).await, b);
        assert_not_found(store.delete_message(MessageId(UNKNOWN), alice.id).await, b);
        let edited = store.edit_message(message.id, alice.id, "revived?").await;
        assert_not_found(edited, b);
        let stored = store.message_by_id(message.id).await.must(b);
        assert_eq!(stored, Some(first), "{b:?}: a tombstone cannot be edited");
    }
}

#[tokio::test]
async fn the_faces_lists_leave_deleted_messages_out() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        send(&store, &alice, &bob, "one").await;
        let two = send(&store, &bob, &alice, "two").await;
        send(&store, &alice, &bob, "three").await;

        store.delete_message(two.id, bob.id).await.must(b);

        for viewer in [&alice, &bob] {
            let listed = of_user(&store, viewer.id, 10, 0).await;
            assert_eq!(listed, ["one", "three"], "{b:?}: {}", viewer.username);
        }
        let page = history(&store, &alice, &bob, 10, 0).await;
        assert_eq!(summary(&page), (vec!["three", "one"], 2), "{b:?}");
        let convo = two.conversation_id;
        let read = window(&store, convo, &alice, HistoryWindow::Latest, 10).await;
        assert_eq!(span(&read), (vec![1, 2, 3], false), "{b:?}: tombstone kept");
        assert_eq!(contents(&read.messages), ["one", "", "three"], "{b:?}");
    }
}

#[tokio::test]
async fn hiding_a_message_hides_it_from_that_user_only() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        send(&store, &alice, &bob, "one").await;
        let two = send(&store, &bob, &alice, "two").await;
        send(&store, &alice, &bob, "three").await;
        let convo = two.conversation_id;

        store.hide_message(two.id, alice.id).await.must(b);
        store.hide_message(two.id, alice.id).await.must(b);

        let alices = of_user(&store, alice.id, 10, 0).await;
        assert_eq!(alices, ["one", "three"], "{b:?}: hidden from alice");
        let page = history(&store, &alice, &bob, 10, 0).await;
        assert_eq!(summary(&page), (vec!["three", "one"], 2), "{b:?}");
        let read = window(&store, convo, &alice, HistoryWindow::Latest, 10).await;
        assert_eq!(span(&read), (vec![1, 3], false), "{b:?}");
        let bobs = of_user(&store, bob.id, 10, 0).await;
        assert_eq!(bobs, ["one", "two", "three"], "{b:?}: bob still sees it");
        let page = history(&store, &bob, &alice, 10, 0).await;
        assert_eq!(summary(&page), (vec!["three", "two", "one"], 3), "{b:?}");
        let read = window(&store, convo, &bob, HistoryWindow::Latest, 10).await;
        assert_eq!(span(&read), (vec![1, 2, 3], false), "{b:?}");
        let stored = store.message_by_id(two.id).await.must(b);
        assert_eq!(stored, Some(two), "{b:?}: the message itself is unchanged");
    }
}

#[tokio::test]
async fn only_members_can_hide_a_message() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let message = send(&store, &alice, &bob, "private").await;

        let by_carol = store.hide_message(message.id, carol.id).await;
        let unknown = store.hide_message(MessageId(UNKNOWN), alice.id).await;
        let by_sender = store.hide_message(message.id, alice.id).await;

        assert_not_found(by_carol, b);
        assert_not_found(unknown, b);
        by_sender.must(b);
        let bobs = of_user(&store, bob.id, 10, 0).await;
        assert_eq!(bobs, ["private"], "{b:?}: carol hid nothing for bob");
        let alices = of_user(&store, alice.id, 10, 0).await;
        assert!(alices.is_empty(), "{b:?}: the sender may hide her own");
    }
}
