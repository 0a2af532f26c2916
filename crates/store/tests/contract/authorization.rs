//! Who may read and change what, checked by the store itself: a non-member learns nothing of
//! a conversation or its messages (`NotFound`, or `None`), and a member who did not send a
//! message may not change it for everyone (`NotSender`), which then changes nothing.

use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{Altered, ConversationId, HistoryWindow, MessageId};

use crate::{Must, UNKNOWN, assert_not_found, contents, done, open, post, read_state, span};
use crate::{stored, users, versions, window};

use HistoryWindow::{After, Before, Latest};

#[tokio::test]
async fn a_non_member_reads_no_window_of_a_conversation_but_a_member_reads_empty_ones() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        post(&store, convo, &alice, "one").await;
        post(&store, convo, &bob, "two").await;
        let empty = open(&store, &alice, &carol).await.id;

        for at in [
            Latest,
            Before(2),
            Before(1),
            After(0),
            After(2),
            After(UNKNOWN),
        ] {
            let read = store.conversation_messages(convo, carol.id, at, 10).await;
            assert_not_found(read, b);
            let unknown = ConversationId(UNKNOWN);
            assert_not_found(
                store.conversation_messages(unknown, alice.id, at, 10).await,
                b,
            );
        }

        // A member's empty window is no refusal: nothing there yet, nothing left, all hidden.
        let nothing_yet = window(&store, empty, &carol, Latest, 10).await;
        let nothing_after = window(&store, convo, &bob, After(2), 10).await;
        let nothing_before = window(&store, convo, &bob, Before(1), 10).await;
        assert_eq!(
            span(&nothing_yet),
            (vec![], false),
            "{b:?}: empty conversation"
        );
        assert_eq!(
            span(&nothing_after),
            (vec![], false),
            "{b:?}: read to the end"
        );
        assert_eq!(
            span(&nothing_before),
            (vec![], false),
            "{b:?}: before the start"
        );
        let alices = window(&store, convo, &alice, Latest, 10).await;
        assert_eq!(
            contents(&alices.messages),
            ["one", "two"],
            "{b:?}: members read"
        );
    }
}

#[tokio::test]
async fn a_member_who_hid_every_message_still_reads_an_empty_window() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let only = post(&store, convo, &alice, "only").await;

        store.hide_message(only.id, bob.id).await.must(b);

        let bobs = window(&store, convo, &bob, Latest, 10).await;
        assert_eq!(span(&bobs), (vec![], false), "{b:?}: hidden, not refused");
        let alices = window(&store, convo, &alice, Latest, 10).await;
        assert_eq!(
            span(&alices),
            (vec![1], false),
            "{b:?}: alice still sees it"
        );
    }
}

#[tokio::test]
async fn a_non_member_can_neither_read_nor_change_a_message() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let sent = post(&store, convo, &alice, "private").await;
        let (edited, _) = store
            .edit_message(sent.id, alice.id, "private, edited")
            .await
            .must(b);
        let message = done(edited, b);

        let edit = store.edit_message(message.id, carol.id, "mine now").await;
        let delete = store.delete_message(message.id, carol.id).await;
        let hide = store.hide_message(message.id, carol.id).await;
        let read = store.message_versions(message.id, carol.id).await;

        assert_not_found(edit, b);
        assert_not_found(delete, b);
        assert_not_found(hide, b);
        assert_eq!(read.must(b), None, "{b:?}: carol reads nothing of it");
        let unknown = MessageId(UNKNOWN);
        assert_not_found(store.edit_message(unknown, alice.id, "ghost").await, b);
        assert_not_found(store.delete_message(unknown, alice.id).await, b);
        assert_not_found(store.hide_message(unknown, alice.id).await, b);
        let none = store.message_versions(unknown, alice.id).await.must(b);
        assert_eq!(none, None, "{b:?}: no such message");

        // Nothing changed for the members.
        for member in [&alice, &bob] {
            let (now, earlier) = versions(&store, message.id, member).await.must(b);
            assert_eq!(now, message, "{b:?}: intact for {}", member.username);
            let kept: Vec<&str> = earlier.iter().map(|(c, _)| c.as_str()).collect();
            assert_eq!(kept, ["private"], "{b:?}: its version kept");
            let read = window(&store, convo, member, Latest, 10).await;
            assert_eq!(
                read.messages,
                std::slice::from_ref(&message),
                "{b:?}: not hidden"
            );
        }
        let bobs = read_state(&store, convo, &bob).await;
        assert_eq!(bobs.unread_count, 1, "{b:?}: still unread for bob");
    }
}

#[tokio::test]
async fn a_member_who_did_not_send_a_message_cannot_edit_or_delete_it() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let message = post(&store, convo, &alice, "mine").await;

        let edit = store.edit_message(message.id, bob.id, "hijack").await;
        let delete = store.delete_message(message.id, bob.id).await;

        assert_eq!(edit.must(b), (Altered::NotSender, vec![]), "{b:?}: edit");
        assert_eq!(
            delete.must(b),
            (Altered::NotSender, vec![]),
            "{b:?}: delete"
        );
        let (now, earlier) = versions(&store, message.id, &alice).await.must(b);
        assert_eq!(
            now, message,
            "{b:?}: content intact, not edited, not deleted"
        );
        assert!(earlier.is_empty(), "{b:?}: no version kept: {earlier:?}");
        let bobs = window(&store, convo, &bob, Latest, 10).await;
        assert_eq!(
            contents(&bobs.messages),
            ["mine"],
            "{b:?}: bob still reads it"
        );
        // Hiding it from himself is his to do; the sender's own edit still works.
        store.hide_message(message.id, bob.id).await.must(b);
        let (edited, _) = store
            .edit_message(message.id, alice.id, "mine, edited")
            .await
            .must(b);
        assert_eq!(done(edited, b).content, "mine, edited", "{b:?}");
        let as_alice = stored(&store, message.id, &alice).await.must(b);
        assert_eq!(as_alice.content, "mine, edited", "{b:?}");
    }
}
