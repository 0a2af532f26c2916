//! Direct conversations: opening them, membership, and each member's conversation list.

use futures::future::join_all;
use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{Change, ConversationChange, ConversationId, ConversationKind, UserId};
use missive_store::{ConversationSummary, SqlStore, Timestamp, User};

use crate::{Must, UNKNOWN, assert_not_found, find, history, open, post, read_state, send};
use crate::{send_direct, stored, tick, users};

/// Whose conversation list shows `conversation`, and with which peer: one per user asked.
async fn peers_seen(
    store: &SqlStore,
    conversation: ConversationId,
    asking: &[&User],
) -> Vec<Option<UserId>> {
    let mut seen = Vec::new();
    for user in asking {
        let summary = store.conversation_summary(conversation, user.id).await;
        seen.push(summary.must(store.backend()).map(|s| {
            s.peer
                .as_ref()
                .map(|p| p.id)
                .expect("a direct conversation has a peer")
        }));
    }
    seen
}

#[tokio::test]
async fn open_direct_conversation_is_the_same_whichever_member_asks() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let before = find(&store, alice.id, bob.id).await;

        let ((first, created), _) = store
            .open_direct_conversation(bob.id, alice.id)
            .await
            .must(b);
        let ((again, created_again), _) = store
            .open_direct_conversation(alice.id, bob.id)
            .await
            .must(b);
        let twice = open(&store, &bob, &alice).await;
        let other = open(&store, &alice, &carol).await;

        assert_eq!(before, None, "{b:?}: no conversation before opening");
        assert!(
            created && !created_again,
            "{b:?}: only the first call creates it"
        );
        assert_eq!(again, first, "{b:?}: same for the other member");
        assert_eq!(twice, first, "{b:?}: opening is idempotent");
        assert_ne!(other.id, first.id, "{b:?}: another pair");
        assert_eq!(first.kind, ConversationKind::Direct, "{b:?}");
        let members = peers_seen(&store, first.id, &[&alice, &bob, &carol]).await;
        let expected = [Some(bob.id), Some(alice.id), None];
        assert_eq!(members, expected, "{b:?}: alice and bob are its members");
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

        let forward = store
            .open_direct_conversation(alice.id, UserId(UNKNOWN))
            .await;
        let backward = store
            .open_direct_conversation(UserId(UNKNOWN), alice.id)
            .await;

        assert_not_found(forward, b);
        assert_not_found(backward, b);
        let created = find(&store, alice.id, UserId(UNKNOWN)).await;
        assert_eq!(created, None, "{b:?}: nothing created");
    }
}

#[tokio::test]
async fn a_user_can_converse_with_themselves() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;

        let [bob] = users(&store, ["bob"]).await;
        let notes = open(&store, &alice, &alice).await;
        let note = send_direct(&store, &alice, &alice, "remember the milk").await;

        let members = peers_seen(&store, notes.id, &[&alice, &bob]).await;
        assert_eq!(members, [Some(alice.id), None], "{b:?}: alice alone");
        let found = find(&store, alice.id, alice.id).await.map(|c| c.id);
        assert_eq!(found, Some(notes.id), "{b:?}: found by the pair");
        let in_notes = note.message.conversation_id;
        assert_eq!(in_notes, notes.id, "{b:?}: same conversation");
        let numbered = (note.message.seq, note.recipient_id);
        assert_eq!(numbered, (1, alice.id), "{b:?}: to herself");
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
        let (mut creators, mut reported) = (0, 0);
        for result in opened {
            let ((conversation, created), changes) = result.must(b).must(b);
            assert_eq!(conversation, stored, "{b:?}: one conversation");
            creators += usize::from(created);
            let says_created = changes.iter().any(|c| {
                matches!(
                    c,
                    Change::Conversation {
                        what: ConversationChange::Created,
                        ..
                    }
                )
            });
            assert_eq!(
                says_created, created,
                "{b:?}: its changes say so: {changes:?}"
            );
            reported += changes.len();
        }
        assert_eq!(creators, 1, "{b:?}: exactly one call created it");
        assert_eq!(reported, 1, "{b:?}: and only it reports a change");
    }
}

async fn listed(store: &SqlStore, user: &User, limit: i64) -> Vec<ConversationSummary> {
    let list = store.list_conversations(user.id, None, limit).await;
    list.must(store.backend())
}

fn ids(list: &[ConversationSummary]) -> Vec<ConversationId> {
    list.iter().map(|c| c.id).collect()
}

#[tokio::test]
async fn each_member_sees_the_conversation_with_their_own_read_position_and_others_nothing() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let convo = open(&store, &alice, &bob).await;
        for from in [&alice, &bob, &alice] {
            post(&store, convo.id, from, "hi").await;
        }
        store.mark_read(convo.id, bob.id, 2).await.must(b);

        let as_alice = store.conversation_summary(convo.id, alice.id).await;
        let as_bob = store.conversation_summary(convo.id, bob.id).await;
        let as_carol = store.conversation_summary(convo.id, carol.id).await;
        let unknown = store
            .conversation_summary(ConversationId(UNKNOWN), alice.id)
            .await;

        let current = find(&store, alice.id, bob.id).await.must(b);
        assert_eq!((current.id, current.last_seq), (convo.id, 3), "{b:?}");
        let alices = as_alice.must(b).must(b);
        let seen = (
            alices.id,
            alices.last_seq,
            alices.peer.as_ref().map(|p| p.id).unwrap(),
        );
        assert_eq!(seen, (current.id, 3, bob.id), "{b:?}: alice's view");
        assert_eq!(alices.read.last_read_seq, 0, "{b:?}: alice read nothing");
        let bobs = as_bob.must(b).must(b);
        let seen = (
            bobs.id,
            bobs.last_seq,
            bobs.peer.as_ref().map(|p| p.id).unwrap(),
        );
        assert_eq!(seen, (current.id, 3, alice.id), "{b:?}: bob's view");
        assert_eq!(bobs.read.last_read_seq, 2, "{b:?}: bob's read position");
        assert_eq!(read_state(&store, convo.id, &bob).await, bobs.read, "{b:?}");
        assert_eq!(as_carol.must(b), None, "{b:?}: not a member");
        assert_eq!(unknown.must(b), None, "{b:?}: no such conversation");
        assert_not_found(store.read_state(convo.id, carol.id).await, b);
    }
}

#[tokio::test]
async fn conversation_list_is_most_recent_activity_first() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol, dave] = users(&store, ["alice", "bob", "carol", "dave"]).await;
        let with_bob = send(&store, &alice, &bob, "1").await.conversation_id;
        tick().await;
        let with_carol = send(&store, &carol, &alice, "2").await.conversation_id;
        tick().await;
        let with_dave = send(&store, &alice, &dave, "3").await.conversation_id;
        let before = listed(&store, &alice, 10).await;
        tick().await;

        let latest = send(&store, &bob, &alice, "4").await;

        let after = listed(&store, &alice, 10).await;
        assert_eq!(ids(&before), [with_dave, with_carol, with_bob], "{b:?}");
        assert_eq!(ids(&after), [with_bob, with_dave, with_carol], "{b:?}");
        assert_eq!(after[0].activity_at, latest.created_at, "{b:?}: its time");
        for summary in &after {
            let newest = summary.last_message.as_ref().must(b);
            let activity = (summary.activity_at, summary.last_seq);
            assert_eq!(activity, (newest.created_at, newest.seq), "{b:?}");
        }
        let bobs = listed(&store, &bob, 10).await;
        assert_eq!(ids(&bobs), [with_bob], "{b:?}: bob's own list");
        let first_only = listed(&store, &alice, 1).await;
        assert_eq!(ids(&first_only), [with_bob], "{b:?}: limit");
    }
}

#[tokio::test]
async fn conversation_list_names_the_peer_from_either_side() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        crate::set_name(&store, bob.id, None).await.must(b);
        send(&store, &alice, &bob, "hi").await;
        send(&store, &alice, &alice, "note to self").await;

        let alices = listed(&store, &alice, 10).await;
        let bobs = listed(&store, &bob, 10).await;

        let peer = |c: &ConversationSummary| {
            let peer = c.peer.clone().expect("a direct conversation has a peer");
            (peer.id, peer.username, peer.full_name)
        };
        let alice_as_peer: (UserId, String, Option<String>) =
            (alice.id, "alice".into(), Some("alice Example".into()));
        let peers: Vec<_> = alices.iter().map(peer).collect();
        let expected = [alice_as_peer.clone(), (bob.id, "bob".into(), None)];
        assert_eq!(peers, expected, "{b:?}: notes to self name alice herself");
        let bobs_peers: Vec<_> = bobs.iter().map(peer).collect();
        assert_eq!(bobs_peers, [alice_as_peer], "{b:?}: bob sees alice");
        assert_eq!(bobs[0].id, alices[1].id, "{b:?}: the same conversation");
    }
}

#[tokio::test]
async fn conversation_list_counts_unread_and_shows_the_newest_message_not_hidden() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        post(&store, convo, &bob, "b1").await;
        post(&store, convo, &bob, "b2").await;
        let b3 = post(&store, convo, &bob, "b3").await;
        let a4 = post(&store, convo, &alice, "a4").await;
        store.mark_read(convo, alice.id, 1).await.must(b);
        store.hide_message(a4.id, alice.id).await.must(b);

        let (deleted, _) = store.delete_message(b3.id, bob.id).await.must(b);
        let deleted = crate::done(deleted, b);

        let alices = listed(&store, &alice, 10).await.remove(0);
        let bobs = listed(&store, &bob, 10).await.remove(0);
        assert_eq!((alices.last_seq, bobs.last_seq), (4, 4), "{b:?}");
        let alice_read = (alices.read.last_read_seq, alices.read.unread_count);
        assert_eq!(alice_read, (1, 1), "{b:?}: b2 only (b3 deleted, a4 hers)");
        let bob_read = (bobs.read.last_read_seq, bobs.read.unread_count);
        assert_eq!(bob_read, (0, 1), "{b:?}: a4, hidden by alice only");
        let shown = alices.last_message.must(b);
        assert_eq!(shown, deleted, "{b:?}: alice hid a4, so b3's tombstone");
        assert_eq!(shown.content, "", "{b:?}: tombstones show no content");
        assert!(shown.deleted_at.is_some(), "{b:?}: shown as deleted");
        let a4_now = stored(&store, a4.id, &bob).await;
        assert_eq!(bobs.last_message, a4_now, "{b:?}: bob sees a4");
        assert_eq!(a4_now, Some(a4), "{b:?}: as sent");
    }
}

#[tokio::test]
async fn conversation_list_cursor_pages_return_every_conversation_once() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let names = ["alice", "p1", "p2", "p3", "p4", "p5", "p6", "p7"];
        let [alice, peers @ ..] = users(&store, names).await;
        for (i, peer) in peers.iter().enumerate() {
            match i % 3 {
                0 => open(&store, &alice, peer).await.id,
                1 => send(&store, peer, &alice, "hi").await.conversation_id,
                _ => send(&store, &alice, peer, "hi").await.conversation_id,
            };
        }
        let whole = listed(&store, &alice, 100).await;

        let mut paged = Vec::new();
        let mut after = None;
        loop {
            let page = store.list_conversations(alice.id, after, 3).await.must(b);
            let Some(last) = page.last() else { break };
            after = Some((last.activity_at, last.id));
            paged.extend(page);
        }

        assert_eq!(whole.len(), peers.len(), "{b:?}: one per peer");
        assert_eq!(
            paged, whole,
            "{b:?}: pages add up to the whole list, once each"
        );
        let keys: Vec<(Timestamp, ConversationId)> =
            whole.iter().map(|c| (c.activity_at, c.id)).collect();
        let descending = keys.windows(2).all(|w| w[0] > w[1]);
        assert!(descending, "{b:?}: strictly newest first: {keys:?}");
    }
}

#[tokio::test]
async fn an_empty_conversation_is_listed_by_its_creation_time() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let with_carol = send(&store, &alice, &carol, "hi").await.conversation_id;
        tick().await;

        let empty = open(&store, &bob, &alice).await;

        let list = listed(&store, &alice, 10).await;
        assert_eq!(ids(&list), [empty.id, with_carol], "{b:?}: newest first");
        let summary = &list[0];
        assert_eq!(summary.created_at, empty.created_at, "{b:?}");
        assert_eq!(summary.activity_at, empty.created_at, "{b:?}: its creation");
        assert_eq!(summary.last_message, None, "{b:?}: no message");
        let read = (
            summary.last_seq,
            summary.read.last_read_seq,
            summary.read.unread_count,
        );
        assert_eq!(read, (0, 0, 0), "{b:?}");
        let bobs = listed(&store, &bob, 10).await;
        assert_eq!(ids(&bobs), [empty.id], "{b:?}: listed for bob too");
        tick().await;
        send(&store, &carol, &alice, "again").await;
        let moved = listed(&store, &alice, 10).await;
        assert_eq!(
            ids(&moved),
            [with_carol, empty.id],
            "{b:?}: a message moves it"
        );
    }
}

#[tokio::test]
async fn conversation_summary_is_the_list_entry_for_members_and_none_otherwise() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let convo = send(&store, &alice, &bob, "hi").await.conversation_id;
        send(&store, &alice, &carol, "hello").await;

        let alices = store.conversation_summary(convo, alice.id).await.must(b);
        let bobs = store.conversation_summary(convo, bob.id).await.must(b);
        let carols = store.conversation_summary(convo, carol.id).await.must(b);
        let unknown = store
            .conversation_summary(ConversationId(UNKNOWN), alice.id)
            .await
            .must(b);

        let listed_for_alice = listed(&store, &alice, 10).await;
        let entry = listed_for_alice.iter().find(|c| c.id == convo);
        assert_eq!(alices.as_ref(), entry, "{b:?}: alice's view");
        assert_eq!(
            bobs,
            listed(&store, &bob, 10).await.pop(),
            "{b:?}: bob's view"
        );
        assert_eq!(carols, None, "{b:?}: not a member");
        assert_eq!(unknown, None, "{b:?}: no such conversation");
    }
}
