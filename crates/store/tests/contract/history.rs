//! Reading a conversation by `seq` windows, the keyset pagination of `/v1`.

use missive_store::ConversationId;
use std::time::Duration;

use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{HistoryWindow, SqlStore, StoreError, User};

use crate::{Must, UNKNOWN, contents, open, post, post_many, seqs, span, stored, users, window};

use HistoryWindow::{After, Before, Latest};

/// Reads forward from `after` in pages of `size` until a page says there is no more; returns
/// every seq read and how many pages it took.
async fn walk(
    store: &SqlStore,
    conversation: ConversationId,
    viewer: &User,
    after: i64,
) -> (Vec<i64>, usize) {
    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, after);
    loop {
        let page = window(store, conversation, viewer, After(cursor), 7).await;
        pages += 1;
        seen.extend(seqs(&page.messages));
        cursor = seen.last().copied().unwrap_or(cursor);
        if !page.has_more {
            return (seen, pages);
        }
    }
}

#[tokio::test]
async fn the_latest_window_is_the_newest_messages_in_ascending_seq() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let empty = window(&store, convo, &alice, Latest, 3).await;
        post_many(&store, convo, &alice, &bob, 10).await;

        let newest = window(&store, convo, &alice, Latest, 3).await;
        let exactly_all = window(&store, convo, &alice, Latest, 10).await;
        let more_than_all = window(&store, convo, &bob, Latest, 50).await;

        let everything: Vec<i64> = (1..=10).collect();
        assert_eq!(span(&empty), (vec![], false), "{b:?}: nothing yet");
        assert_eq!(span(&newest), (vec![8, 9, 10], true), "{b:?}");
        assert_eq!(contents(&newest.messages), ["m8", "m9", "m10"], "{b:?}");
        assert_eq!(span(&exactly_all), (everything.clone(), false), "{b:?}");
        assert_eq!(span(&more_than_all), (everything, false), "{b:?}");
        assert_eq!(
            more_than_all, exactly_all,
            "{b:?}: both members see the same"
        );
        for message in &newest.messages {
            let one = stored(&store, message.id, &bob).await;
            assert_eq!(one.as_ref(), Some(message), "{b:?}: as stored");
        }
    }
}

#[tokio::test]
async fn before_and_after_windows_say_there_is_more_only_when_there_is() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        post_many(&store, convo, &alice, &bob, 10).await;
        let cases = [
            (Before(8), 3, vec![5, 6, 7], true),
            (Before(5), 3, vec![2, 3, 4], true),
            (Before(4), 3, vec![1, 2, 3], false),
            (Before(3), 5, vec![1, 2], false),
            (Before(1), 5, vec![], false),
            (Before(UNKNOWN), 2, vec![9, 10], true),
            (After(0), 3, vec![1, 2, 3], true),
            (After(6), 3, vec![7, 8, 9], true),
            (After(7), 3, vec![8, 9, 10], false),
            (After(8), 5, vec![9, 10], false),
            (After(10), 3, vec![], false),
        ];

        for (at, limit, expected, more) in cases {
            let read = window(&store, convo, &bob, at, limit).await;
            assert_eq!(span(&read), (expected, more), "{b:?}: {at:?} limit {limit}");
        }
    }
}

#[tokio::test]
async fn windows_keep_tombstones_but_leave_out_what_the_viewer_hid() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let mut sent = Vec::new();
        for i in 1..=5 {
            sent.push(post(&store, convo, [&alice, &bob][i % 2], &format!("m{i}")).await);
        }
        store.delete_message(sent[1].id, alice.id).await.must(b);
        store.hide_message(sent[2].id, bob.id).await.must(b);

        let alices = window(&store, convo, &alice, Latest, 10).await;
        let bobs = window(&store, convo, &bob, Latest, 10).await;
        let bobs_before = window(&store, convo, &bob, Before(5), 2).await;

        assert_eq!(span(&alices), (vec![1, 2, 3, 4, 5], false), "{b:?}");
        let tombstone = &alices.messages[1];
        assert_eq!(tombstone.content, "", "{b:?}: tombstone has no content");
        assert!(tombstone.deleted_at.is_some(), "{b:?}: marked deleted");
        assert_eq!(span(&bobs), (vec![1, 2, 4, 5], false), "{b:?}: bob hid 3");
        assert_eq!(span(&bobs_before), (vec![2, 4], true), "{b:?}: skips 3");
    }
}

#[tokio::test]
async fn walking_forward_returns_every_message_exactly_once() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        post_many(&store, convo, &alice, &bob, 28).await;

        let (whole, pages) = walk(&store, convo, &alice, 0).await;
        post(&store, convo, &bob, "one more").await;
        let (rest, more_pages) = walk(&store, convo, &alice, 28).await;

        assert_eq!(whole, (1..=28).collect::<Vec<_>>(), "{b:?}: in order, once");
        assert_eq!(pages, 4, "{b:?}: a full last page ends the walk");
        assert_eq!((rest, more_pages), (vec![29], 1), "{b:?}: resumes after 28");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn walking_forward_while_another_task_sends_sees_every_message_in_order() {
    const EARLY: i64 = 5;
    const LIVE: i64 = 150;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        post_many(&store, convo, &alice, &bob, EARLY as usize).await;
        let sender = tokio::spawn({
            let (store, from) = (store.clone(), alice.id);
            async move {
                for i in 0..LIVE {
                    store
                        .send_message(convo, from, &format!("live {i}"), None)
                        .await?;
                }
                Ok::<_, StoreError>(())
            }
        });

        let (mut seen, mut cursor) = (Vec::new(), 0);
        loop {
            // Observed before reading: once the sender is done, a final empty page ends it.
            let done = sender.is_finished();
            let page = window(&store, convo, &bob, After(cursor), 7).await;
            let got = seqs(&page.messages);
            let next: Vec<i64> = (cursor + 1..).take(got.len()).collect();
            assert_eq!(got, next, "{b:?}: every page continues without a gap");
            seen.extend(&got);
            cursor = seen.last().copied().unwrap_or(cursor);
            if done && !page.has_more {
                break;
            }
            if !page.has_more {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }

        sender.await.must(b).must(b);
        assert_eq!(seen, (1..=EARLY + LIVE).collect::<Vec<_>>(), "{b:?}");
    }
}
