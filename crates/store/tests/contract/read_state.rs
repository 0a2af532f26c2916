//! Read positions and the unread counts derived from them.

use missive_store::ConversationId;
use missive_store::ReadState;
use missive_store::prelude::*;
use missive_store::testing::TestDb;

use crate::{Must, UNKNOWN, assert_not_found, open, post, read_state, users};

fn state(last_read_seq: i64, unread_count: i64) -> ReadState {
    ReadState {
        last_read_seq,
        unread_count,
    }
}

#[tokio::test]
async fn unread_counts_only_visible_messages_from_others() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let fresh = [
            read_state(&store, convo, &alice).await,
            read_state(&store, convo, &bob).await,
        ];
        post(&store, convo, &bob, "b1").await;
        let b2 = post(&store, convo, &bob, "b2").await;
        let b3 = post(&store, convo, &bob, "b3").await;
        let a4 = post(&store, convo, &alice, "a4").await;
        let sent = [
            read_state(&store, convo, &alice).await,
            read_state(&store, convo, &bob).await,
        ];

        store.delete_message(b2.id, bob.id).await.must(b);
        store.hide_message(b3.id, alice.id).await.must(b);
        store
            .edit_message(a4.id, alice.id, "a4, edited")
            .await
            .must(b);

        assert_eq!(fresh, [state(0, 0), state(0, 0)], "{b:?}: nothing at first");
        assert_eq!(sent, [state(0, 3), state(0, 1)], "{b:?}: others' only");
        let alices = read_state(&store, convo, &alice).await;
        assert_eq!(alices, state(0, 1), "{b:?}: b2 deleted, b3 hidden");
        let bobs = read_state(&store, convo, &bob).await;
        assert_eq!(bobs, state(0, 1), "{b:?}: edits change nothing");
        store.hide_message(a4.id, bob.id).await.must(b);
        let bobs = read_state(&store, convo, &bob).await;
        assert_eq!(bobs, state(0, 0), "{b:?}: bob hid a4");
    }
}

#[tokio::test]
async fn mark_read_moves_forward_only_and_stops_at_the_last_message() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        for i in 1..=5 {
            post(&store, convo, &bob, &format!("b{i}")).await;
        }

        let mut moved = Vec::new();
        for seq in [3, 1, -1, 3, 99] {
            let marked = store.mark_read(convo, alice.id, seq).await;
            moved.push((seq, marked.must(b).0));
        }

        let expected = [
            (3, state(3, 2)),
            (1, state(3, 2)),
            (-1, state(3, 2)),
            (3, state(3, 2)),
            (99, state(5, 0)),
        ];
        assert_eq!(moved, expected, "{b:?}: forward only, at most last_seq");
        assert_eq!(
            read_state(&store, convo, &alice).await,
            state(5, 0),
            "{b:?}"
        );
        post(&store, convo, &bob, "b6").await;
        let behind = read_state(&store, convo, &alice).await;
        assert_eq!(behind, state(5, 1), "{b:?}: a new message is unread");
        let bobs = read_state(&store, convo, &bob).await;
        assert_eq!(bobs, state(0, 0), "{b:?}: bob's position is his own");
    }
}

#[tokio::test]
async fn read_state_and_mark_read_are_not_found_for_non_members() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        post(&store, convo, &alice, "hi").await;

        assert_not_found(store.read_state(convo, carol.id).await, b);
        assert_not_found(store.mark_read(convo, carol.id, 1).await, b);
        assert_not_found(store.read_state(ConversationId(UNKNOWN), alice.id).await, b);
        assert_not_found(
            store.mark_read(ConversationId(UNKNOWN), alice.id, 1).await,
            b,
        );

        let bobs = read_state(&store, convo, &bob).await;
        assert_eq!(bobs, state(0, 1), "{b:?}: members unaffected");
    }
}
