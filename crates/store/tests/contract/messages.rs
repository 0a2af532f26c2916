//! Sending and editing messages, and the faces' offset lists (`messages_of_user`,
//! `direct_history`).

use futures::future::join_all;
use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{Altered, Change, ConversationChange, DirectMessage};
use missive_store::{MessageId, UserId};

use crate::{Must, UNKNOWN, assert_not_found, contents, done, find, history, of_user, send};
use crate::{send_direct, seqs, stored, summary, users, versions};

#[tokio::test]
async fn send_numbers_messages_per_conversation_and_names_the_recipient() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;

        let first = send_direct(&store, &alice, &bob, "one").await;
        let second = send_direct(&store, &bob, &alice, "two").await;
        let third = send_direct(&store, &alice, &bob, "three").await;
        let elsewhere = send_direct(&store, &carol, &alice, "other").await;

        let sent = [first.clone(), second.clone(), third.clone()];
        assert_eq!(seqs(&sent), [1, 2, 3], "{b:?}: seq counts up");
        let (one, other) = (&first.message, &elsewhere.message);
        assert_eq!(other.seq, 1, "{b:?}: each conversation counts from 1");
        assert_ne!(other.conversation_id, one.conversation_id, "{b:?}");
        let ends = |m: &DirectMessage| (m.message.sender_id, m.recipient_id);
        assert_eq!(ends(&first), (alice.id, bob.id), "{b:?}: alice to bob");
        assert_eq!(ends(&second), (bob.id, alice.id), "{b:?}: bob to alice");
        assert_eq!(ends(&elsewhere), (carol.id, alice.id), "{b:?}");
        assert_eq!((one.edited_at, one.deleted_at), (None, None), "{b:?}");
        assert!(one.created_at <= third.message.created_at, "{b:?}");
        let convo = find(&store, bob.id, alice.id).await.must(b);
        let expected = (one.conversation_id, 3);
        assert_eq!((convo.id, convo.last_seq), expected, "{b:?}");
        // Alice is in both conversations.
        for sent in [first, second, third, elsewhere] {
            let now = stored(&store, sent.message.id, &alice).await;
            assert_eq!(now, Some(sent.message), "{b:?}: stored as returned");
        }
        let unknown = versions(&store, MessageId(UNKNOWN), &alice).await;
        assert_eq!(unknown, None, "{b:?}");
    }
}

#[tokio::test]
async fn sending_to_or_from_an_unknown_user_is_not_found_and_opens_nothing() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;

        let to_nobody = store
            .send_direct_message(alice.id, UserId(UNKNOWN), "hello?")
            .await;
        let from_nobody = store
            .send_direct_message(UserId(UNKNOWN), alice.id, "boo")
            .await;

        assert_not_found(to_nobody, b);
        assert_not_found(from_nobody, b);
        let opened = find(&store, alice.id, UserId(UNKNOWN)).await;
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

        let (sent, changes): (Vec<DirectMessage>, Vec<_>) =
            results.into_iter().map(|r| r.must(b).must(b)).unzip();
        let mut got = seqs(&sent);
        got.sort_unstable();
        assert_eq!(got, (1..=N).collect::<Vec<_>>(), "{b:?}: exactly 1..={N}");
        let convo = find(&store, alice.id, bob.id).await.must(b);
        let one = sent.iter().all(|m| m.message.conversation_id == convo.id);
        assert!(one, "{b:?}: all in one conversation");
        let whats: Vec<ConversationChange> = changes
            .iter()
            .flatten()
            .map(|change| match change {
                Change::Conversation { what, .. } => *what,
                other => panic!("{b:?}: a send changed {other:?}"),
            })
            .collect();
        let opened = whats.iter().filter(|w| **w == ConversationChange::Created);
        assert_eq!(opened.count(), 1, "{b:?}: one send reports opening it");
        let created = whats
            .iter()
            .filter(|w| matches!(w, ConversationChange::MessageCreated { .. }));
        assert_eq!(created.count(), N as usize, "{b:?}: one per message");
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
            let as_read = stored(&store, sent.id, &bob).await.must(b);
            assert_eq!(as_read.content, content, "{b:?}: as sent");
            let edit = format!("{content}✎");
            let (edited, _) = store.edit_message(sent.id, alice.id, &edit).await.must(b);
            assert_eq!(done(edited, b).content, edit, "{b:?}: as edited");
            let (now, earlier) = versions(&store, sent.id, &bob).await.must(b);
            assert_eq!(now.content, edit, "{b:?}: read as edited");
            assert_eq!(earlier[0].0, content, "{b:?}: kept version");
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

        let (hijack, _) = store
            .edit_message(original.id, bob.id, "hijack")
            .await
            .must(b);
        assert_eq!(hijack, Altered::NotSender, "{b:?}: bob is not the sender");
        assert_not_found(
            store
                .edit_message(MessageId(UNKNOWN), alice.id, "ghost")
                .await,
            b,
        );
        let (untouched, none_yet) = versions(&store, original.id, &bob).await.must(b);
        assert_eq!(untouched, original, "{b:?}: unchanged");
        assert!(none_yet.is_empty(), "{b:?}: {none_yet:?}");

        let v2 = store.edit_message(original.id, alice.id, "v2").await;
        let v3 = store.edit_message(original.id, alice.id, "v3").await;

        let (v2, v3) = (done(v2.must(b).0, b), done(v3.must(b).0, b));
        let edited_at = v3.edited_at.must(b);
        assert!(v2.edited_at.must(b) <= edited_at, "{b:?}: edits in order");
        assert!(edited_at >= original.created_at, "{b:?}");
        let mut expected = original;
        (expected.content, expected.edited_at) = ("v3".into(), Some(edited_at));
        assert_eq!(v3, expected, "{b:?}: only content and edited_at change");
        let (now, earlier) = versions(&store, v3.id, &bob).await.must(b);
        assert_eq!(now, v3, "{b:?}: stored as returned");
        let kept: Vec<&str> = earlier.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(kept, ["v1", "v2"], "{b:?}: earlier contents, oldest first");
        assert!(earlier[0].1 <= earlier[1].1, "{b:?}: replaced in order");
        assert_eq!(earlier[1].1, edited_at, "{b:?}: replaced by the last edit");
        let (reply, none) = versions(&store, unedited.id, &alice).await.must(b);
        assert_eq!(reply, unedited, "{b:?}");
        assert!(none.is_empty(), "{b:?}: no versions: {none:?}");
        let next = send(&store, &bob, &alice, "after edits").await;
        assert_eq!(next.seq, 3, "{b:?}: edits take no sequence numbers");
    }
}

#[tokio::test]
async fn messages_of_user_are_the_newest_window_listed_oldest_first() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        send(&store, &alice, &bob, "a1").await;
        send(&store, &bob, &carol, "not alice's").await;
        send(&store, &carol, &alice, "a2").await;
        send(&store, &bob, &alice, "a3").await;
        send(&store, &alice, &carol, "a4").await;

        let all = of_user(&store, alice.id, 100, 0).await;
        let newest = of_user(&store, alice.id, 2, 0).await;
        let page = of_user(&store, alice.id, 2, 1).await;
        let past_end = of_user(&store, alice.id, 10, 4).await;
        let stranger = of_user(&store, UserId(UNKNOWN), 10, 0).await;

        assert_eq!(all, ["a1", "a2", "a3", "a4"], "{b:?}: oldest first");
        assert_eq!(newest, ["a3", "a4"], "{b:?}: the window ends at the newest");
        assert_eq!(
            page,
            ["a2", "a3"],
            "{b:?}: offset steps back from the newest"
        );
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
        let none = store
            .direct_history(alice.id, UserId(UNKNOWN), 10, 0)
            .await
            .must(b);
        assert_eq!(summary(&none), (vec![], 0), "{b:?}: no conversation");
    }
}
