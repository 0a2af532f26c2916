//! Sending into a conversation by id, at most once per idempotency key.

use futures::future::join_all;
use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{Changes, ConversationId, UserId};
use missive_store::{Idempotency, Message, SendOutcome, SqlStore, Timestamp, User};

use crate::{Must, UNKNOWN, assert_not_found, history, key, last_seq, open, post, seqs, stored};
use crate::{tick, users};

async fn send_keyed(
    store: &SqlStore,
    to: ConversationId,
    from: &User,
    idem: Idempotency<'_>,
) -> SendOutcome {
    let content = format!("sent with {}", idem.key);
    let sent = store.send_message(to, from.id, &content, Some(idem)).await;
    sent.must(store.backend()).0
}

#[track_caller]
fn created(outcome: SendOutcome) -> Message {
    match outcome {
        SendOutcome::Created(message) => message,
        other => panic!("expected Created, got {other:?}"),
    }
}

#[tokio::test]
async fn send_message_numbers_messages_without_gaps_and_the_faces_name_the_recipient() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let notes = open(&store, &alice, &alice).await.id;

        let sent = [
            post(&store, convo, &alice, "one").await,
            post(&store, convo, &bob, "two").await,
            post(&store, convo, &alice, "three").await,
        ];
        let note = post(&store, notes, &alice, "note").await;

        assert_eq!(seqs(&sent), [1, 2, 3], "{b:?}: gapless from 1");
        let senders: Vec<_> = sent.iter().map(|m| m.sender_id).collect();
        assert_eq!(senders, [alice.id, bob.id, alice.id], "{b:?}: senders");
        assert_eq!((note.seq, note.sender_id), (1, alice.id), "{b:?}: to self");
        assert_eq!(last_seq(&store, &alice, &bob).await, 3, "{b:?}");
        // The faces name each message's recipient: the other member, or the sender herself.
        let listed = store.messages_of_user(alice.id, 10, 0).await.must(b);
        let ends: Vec<_> = listed
            .iter()
            .map(|m| (m.message.id, m.message.sender_id, m.recipient_id))
            .collect();
        let expected = [
            (sent[0].id, alice.id, bob.id),
            (sent[1].id, bob.id, alice.id),
            (sent[2].id, alice.id, bob.id),
            (note.id, alice.id, alice.id),
        ];
        assert_eq!(ends, expected, "{b:?}: sender and recipient");
        let as_faces: Vec<Message> = listed.into_iter().map(|m| m.message).collect();
        let all: Vec<Message> = sent.iter().cloned().chain([note.clone()]).collect();
        assert_eq!(as_faces, all, "{b:?}: the faces show them as sent");
        for message in sent.into_iter().chain([note]) {
            let now = stored(&store, message.id, &alice).await;
            assert_eq!(now, Some(message), "{b:?}: stored as returned");
        }
    }
}

#[tokio::test]
async fn sending_as_a_non_member_or_to_an_unknown_conversation_takes_no_seq() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        post(&store, convo, &alice, "one").await;

        let intruder = store.send_message(convo, carol.id, "hi", None).await;
        let keyed = store
            .send_message(convo, carol.id, "hi", Some(key("k", "h")))
            .await;
        let nowhere = store
            .send_message(ConversationId(UNKNOWN), alice.id, "hi", None)
            .await;
        let nobody = store.send_message(convo, UserId(UNKNOWN), "hi", None).await;

        for refused in [intruder, keyed, nowhere, nobody] {
            assert_not_found(refused, b);
        }
        assert_eq!(
            last_seq(&store, &alice, &bob).await,
            1,
            "{b:?}: no seq taken"
        );
        assert_eq!(post(&store, convo, &bob, "two").await.seq, 2, "{b:?}");
        let own = open(&store, &carol, &alice).await.id;
        let fresh = send_keyed(&store, own, &carol, key("k", "other")).await;
        assert!(
            matches!(fresh, SendOutcome::Created(_)),
            "{b:?}: key unclaimed"
        );
    }
}

#[tokio::test]
async fn a_repeated_key_with_the_same_request_replays_the_first_message() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let first = created(send_keyed(&store, convo, &alice, key("k1", "h1")).await);

        let again = send_keyed(&store, convo, &alice, key("k1", "h1")).await;
        let third = send_keyed(&store, convo, &alice, key("k1", "h1")).await;

        assert_eq!(again, SendOutcome::Replayed(first.clone()), "{b:?}");
        assert_eq!(third, SendOutcome::Replayed(first), "{b:?}: every time");
        assert_eq!(
            last_seq(&store, &alice, &bob).await,
            1,
            "{b:?}: no seq taken"
        );
        let stored = history(&store, &alice, &bob, 10, 0).await;
        assert_eq!(stored.total, 1, "{b:?}: nothing new stored");
    }
}

#[tokio::test]
async fn a_repeated_key_with_a_different_request_is_refused() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let first = created(send_keyed(&store, convo, &alice, key("k1", "h1")).await);

        let different = send_keyed(&store, convo, &alice, key("k1", "h2")).await;
        let original = send_keyed(&store, convo, &alice, key("k1", "h1")).await;

        assert_eq!(different, SendOutcome::KeyReused, "{b:?}");
        assert_eq!(
            original,
            SendOutcome::Replayed(first),
            "{b:?}: still replays"
        );
        assert_eq!(
            last_seq(&store, &alice, &bob).await,
            1,
            "{b:?}: no seq taken"
        );
        let stored = history(&store, &alice, &bob, 10, 0).await;
        assert_eq!(stored.total, 1, "{b:?}: nothing new stored");
    }
}

#[tokio::test]
async fn idempotency_keys_belong_to_one_user() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;

        let alices = send_keyed(&store, convo, &alice, key("same", "h")).await;
        let bobs = send_keyed(&store, convo, &bob, key("same", "h")).await;

        let (alices, bobs) = (created(alices), created(bobs));
        assert_ne!(alices.id, bobs.id, "{b:?}: two messages");
        let senders = (alices.sender_id, bobs.sender_id, bobs.seq);
        assert_eq!(senders, (alice.id, bob.id, 2), "{b:?}");
    }
}

#[tokio::test]
async fn an_expired_key_starts_afresh() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let first = created(send_keyed(&store, convo, &alice, key("k", "h")).await);
        tick().await;
        let expired = Idempotency {
            expires_before: Timestamp::now(),
            ..key("k", "h")
        };

        let renewed = send_keyed(&store, convo, &alice, expired).await;

        let renewed = created(renewed);
        assert_ne!(renewed.id, first.id, "{b:?}: a new message");
        assert_eq!(renewed.seq, 2, "{b:?}: with the next seq");
        let replay = send_keyed(&store, convo, &alice, key("k", "h")).await;
        assert_eq!(replay, SendOutcome::Replayed(renewed), "{b:?}: the new one");
        let other = send_keyed(&store, convo, &alice, key("k", "h2")).await;
        assert_eq!(other, SendOutcome::KeyReused, "{b:?}: claimed again");
        assert_eq!(history(&store, &alice, &bob, 10, 0).await.total, 2, "{b:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_with_one_key_store_one_message() {
    const TASKS: usize = 16;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;

        let tasks = (0..TASKS).map(|_| {
            let (store, from) = (store.clone(), alice.id);
            tokio::spawn(async move {
                let idem = Some(key("race", "h"));
                store.send_message(convo, from, "once", idem).await
            })
        });
        let (outcomes, changes): (Vec<SendOutcome>, Vec<Changes>) = join_all(tasks)
            .await
            .into_iter()
            .map(|joined| joined.must(b).must(b))
            .unzip();

        let stored = history(&store, &alice, &bob, 10, 0).await;
        assert_eq!(stored.total, 1, "{b:?}: exactly one message: {outcomes:?}");
        let only = &stored.items[0].message;
        let fresh = outcomes
            .iter()
            .filter(|o| matches!(o, SendOutcome::Created(_)));
        assert_eq!(fresh.count(), 1, "{b:?}: one send created it");
        let reported: usize = changes.iter().map(Vec::len).sum();
        assert_eq!(reported, 1, "{b:?}: and only it reports a change");
        for outcome in outcomes {
            let (SendOutcome::Created(m) | SendOutcome::Replayed(m)) = outcome else {
                panic!("{b:?}: expected the message, got {outcome:?}");
            };
            assert_eq!(m.id, only.id, "{b:?}: every send names the one message");
        }
        assert_eq!(last_seq(&store, &alice, &bob).await, 1, "{b:?}");
    }
}

#[tokio::test]
async fn purge_forgets_only_keys_first_used_before_the_cutoff() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        send_keyed(&store, convo, &alice, key("old", "h")).await;
        tick().await;
        let cutoff = Timestamp::now();
        tick().await;
        send_keyed(&store, convo, &alice, key("new", "h")).await;

        let purged = store.purge_idempotency_keys(cutoff).await.must(b);
        let again = store.purge_idempotency_keys(cutoff).await.must(b);

        assert_eq!((purged, again), (1, 0), "{b:?}: the old key, once");
        let old = send_keyed(&store, convo, &alice, key("old", "other")).await;
        assert!(
            matches!(old, SendOutcome::Created(_)),
            "{b:?}: old key free"
        );
        let new = send_keyed(&store, convo, &alice, key("new", "other")).await;
        assert_eq!(new, SendOutcome::KeyReused, "{b:?}: new key kept");
        let stored = history(&store, &alice, &bob, 10, 0).await;
        assert_eq!(stored.total, 3, "{b:?}: purging keeps the messages");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_with_an_expired_key_store_one_new_message() {
    const TASKS: usize = 16;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let old = created(send_keyed(&store, convo, &alice, key("again", "h")).await);
        tick().await;
        let expires_before = Timestamp::now();

        let tasks = (0..TASKS).map(|_| {
            let (store, from) = (store.clone(), alice.id);
            tokio::spawn(async move {
                let idem = Idempotency {
                    expires_before,
                    ..key("again", "h")
                };
                store
                    .send_message(convo, from, "once more", Some(idem))
                    .await
            })
        });
        let (outcomes, changes): (Vec<SendOutcome>, Vec<Changes>) = join_all(tasks)
            .await
            .into_iter()
            .map(|joined| joined.must(b).must(b))
            .unzip();

        let stored = history(&store, &alice, &bob, 10, 0).await;
        assert_eq!(stored.total, 2, "{b:?}: one new message: {outcomes:?}");
        let reported: usize = changes.iter().map(Vec::len).sum();
        assert_eq!(reported, 1, "{b:?}: one send reports a change");
        let new = &stored.items[0].message;
        assert_ne!(new.id, old.id, "{b:?}");
        for outcome in outcomes {
            let (SendOutcome::Created(m) | SendOutcome::Replayed(m)) = &outcome else {
                panic!("{b:?}: expected the new message, got {outcome:?}");
            };
            assert_eq!(m.id, new.id, "{b:?}: every send names the new message");
        }
    }
}
