//! Deleting a message for everyone (a tombstone keeps its seq) and hiding it for oneself.

use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{Altered, HistoryWindow, MessageId};

use crate::{Must, UNKNOWN, assert_not_found, contents, done, history, last_seq, of_user, send};
use crate::{span, stored, summary, users, versions, window};

#[tokio::test]
async fn deleting_a_message_leaves_a_tombstone_at_its_seq_and_forgets_its_versions() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let doomed = send(&store, &alice, &bob, "v1").await;
        store.edit_message(doomed.id, alice.id, "v2").await.must(b);
        send(&store, &bob, &alice, "reply").await;

        let (deleted, _) = store.delete_message(doomed.id, alice.id).await.must(b);

        let tombstone = done(deleted, b);
        let deleted_at = tombstone.deleted_at.must(b);
        assert!(deleted_at >= doomed.created_at, "{b:?}");
        let kept = (tombstone.id, tombstone.seq, tombstone.sender_id);
        assert_eq!(kept, (doomed.id, 1, alice.id), "{b:?}: keeps its place");
        assert_eq!(tombstone.content, "", "{b:?}: content gone");
        for viewer in [&alice, &bob] {
            let (now, earlier) = versions(&store, doomed.id, viewer).await.must(b);
            assert_eq!(now, tombstone, "{b:?}: stored as returned");
            assert!(earlier.is_empty(), "{b:?}: versions forgotten: {earlier:?}");
        }
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

        let (by_bob, _) = store.delete_message(message.id, bob.id).await.must(b);
        let untouched = stored(&store, message.id, &bob).await;
        let (first, _) = store.delete_message(message.id, alice.id).await.must(b);
        let (second, _) = store.delete_message(message.id, alice.id).await.must(b);

        assert_eq!(by_bob, Altered::NotSender, "{b:?}: bob is not the sender");
        assert_eq!(
            untouched,
            Some(message.clone()),
            "{b:?}: bob changed nothing"
        );
        let first = done(first, b);
        assert_eq!(
            second,
            Altered::Done(first.clone()),
            "{b:?}: the same tombstone"
        );
        let (by_bob, _) = store.delete_message(message.id, bob.id).await.must(b);
        assert_eq!(by_bob, Altered::NotSender, "{b:?}: not even a tombstone");
        assert_not_found(store.delete_message(MessageId(UNKNOWN), alice.id).await, b);
        let (edited, _) = store
            .edit_message(message.id, alice.id, "revived?")
            .await
            .must(b);
        assert_eq!(edited, Altered::Deleted, "{b:?}");
        let now = stored(&store, message.id, &alice).await;
        assert_eq!(now, Some(first), "{b:?}: a tombstone cannot be edited");
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
        let as_bob = stored(&store, two.id, &bob).await;
        assert_eq!(as_bob, Some(two), "{b:?}: the message itself is unchanged");
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
