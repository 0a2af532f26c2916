//! What every write reports it changed (its `Changes`), for whoever reacts after commit: the
//! right user or conversation, the conversation's members sorted by id, the kind of change,
//! the event each concerned user's stream got (sorted by user id), and nothing at all when
//! nothing another reader could observe changed.

use std::time::Duration;

use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{AccountChange, AccountChanges, Altered, Change, Changes, ConflictKind};
use missive_store::{ConversationChange, ConversationId, ConversationKind, Message};
use missive_store::{RefreshOutcome, SendOutcome, SessionId, StoreError, Timestamp, User, UserId};

use crate::{Must, UNKNOWN, assert_not_found, done, key, new_user, open, post, users};

const DAY: Duration = Duration::from_secs(86_400);

fn account(user: &User, what: AccountChange) -> Changes {
    vec![Change::Account {
        user: user.id,
        what,
    }]
}

/// A change in a direct conversation; `members` and `events` (each concerned user's stream
/// position) are given in the order expected.
fn direct(
    conversation: ConversationId,
    members: &[UserId],
    what: ConversationChange,
    events: &[(UserId, i64)],
) -> Change {
    Change::Conversation {
        conversation,
        kind: ConversationKind::Direct,
        members: members.to_vec(),
        what,
        events: events.to_vec(),
    }
}

fn created(message: &Message) -> ConversationChange {
    ConversationChange::MessageCreated {
        message: message.id,
        seq: message.seq,
    }
}

/// Two users, the first with the lower id: each test makes the one with the higher id act,
/// so a change listing its members in acting order rather than by id would be caught.
async fn pair(store: &missive_store::SqlStore) -> [User; 2] {
    let [low, high] = users(store, ["alice", "bob"]).await;
    assert!(low.id < high.id, "ids are handed out in creation order");
    [low, high]
}

#[tokio::test]
async fn account_writes_report_the_account_they_changed() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [carol] = users(&store, ["carol"]).await;

        let (alice, made) = store.create_user(new_user("alice")).await.must(b);
        let taken = store.create_user(new_user("ALICE")).await;
        let (_, touched) = store.touch_user(alice.id).await.must(b);
        let name = AccountChanges {
            full_name: Some(Some("Alice Liddell".into())),
            ..AccountChanges::default()
        };
        let (_, named) = store.update_account(alice.id, name).await.must(b);
        let until = Timestamp::now().plus(DAY);
        let (current, _) = store
            .create_session(alice.id, None, None, until)
            .await
            .must(b);
        let password = AccountChanges {
            password: Some(("new-hash".into(), Some(current.id))),
            ..AccountChanges::default()
        };
        let (_, repassworded) = store.update_account(alice.id, password).await.must(b);
        let deleted = store.delete_user(alice.id).await.must(b);

        assert_eq!(made, account(&alice, AccountChange::Created), "{b:?}");
        let refused = matches!(taken, Err(StoreError::Conflict(ConflictKind::Username)));
        assert!(refused, "{b:?}: a conflict creates nothing: {taken:?}");
        assert_eq!(touched, account(&alice, AccountChange::Active), "{b:?}");
        assert_eq!(named, account(&alice, AccountChange::Updated), "{b:?}");
        let updated = account(&alice, AccountChange::Updated);
        assert_eq!(repassworded, updated, "{b:?}: a password change too");
        assert_eq!(
            deleted,
            Some(account(&alice, AccountChange::Deleted)),
            "{b:?}"
        );
        let (_, carols) = store.touch_user(carol.id).await.must(b);
        assert_eq!(carols, account(&carol, AccountChange::Active), "{b:?}");
    }
}

#[tokio::test]
async fn session_writes_report_the_user_and_session_they_changed() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = pair(&store).await;
        let until = Timestamp::now().plus(DAY);

        let (session, opened) = store
            .create_session(bob.id, None, Some("r1"), until)
            .await
            .must(b);
        let touched = store.touch_session(session.id).await.must(b);
        let touched_unknown = store.touch_session(SessionId(UNKNOWN)).await.must(b);
        let (rotated, used) = store.rotate_refresh_token("r1", "r2", until).await.must(b);
        let (reused, ended_by_reuse) = store
            .rotate_refresh_token("r1", "thief", until)
            .await
            .must(b);
        let (again, after_end) = store
            .rotate_refresh_token("r1", "thief2", until)
            .await
            .must(b);
        let (unknown, never_issued) = store
            .rotate_refresh_token("never-issued", "x", until)
            .await
            .must(b);

        let expected = account(&bob, AccountChange::SessionOpened(session.id));
        assert_eq!(opened, expected, "{b:?}: opened");
        let expected = account(&bob, AccountChange::SessionUsed(session.id));
        assert_eq!(touched, expected, "{b:?}: touched");
        assert_eq!(touched_unknown, [], "{b:?}: no such session, no change");
        let ok = matches!(&rotated, RefreshOutcome::Rotated(s) if s.id == session.id);
        assert!(ok, "{b:?}: {rotated:?}");
        assert_eq!(used, expected, "{b:?}: a rotation uses the session");
        assert_eq!(reused, RefreshOutcome::Reused, "{b:?}");
        let ended = account(&bob, AccountChange::SessionsEnded);
        assert_eq!(ended_by_reuse, ended, "{b:?}: reuse ends bob's session");
        assert_eq!(
            (again, after_end),
            (RefreshOutcome::Unknown, vec![]),
            "{b:?}"
        );
        let nothing = (RefreshOutcome::Unknown, vec![]);
        assert_eq!((unknown, never_issued), nothing, "{b:?}");

        let mut alices = Vec::new();
        for _ in 0..3 {
            let (s, _) = store
                .create_session(alice.id, None, None, until)
                .await
                .must(b);
            alices.push(s.id);
        }
        let one = store.end_session(alices[0], alice.id).await.must(b);
        let not_hers = store.end_session(alices[1], bob.id).await;
        let others = store.end_other_sessions(alice.id, Some(alices[2])).await;
        let none_left = store.end_other_sessions(alice.id, Some(alices[2])).await;

        let ended = account(&alice, AccountChange::SessionsEnded);
        assert_eq!(one, ended, "{b:?}: end_session, for alice");
        assert_not_found(not_hers, b);
        assert_eq!(others.must(b), (1, ended), "{b:?}: end_other_sessions");
        assert_eq!(none_left.must(b), (0, vec![]), "{b:?}: nothing left to end");
    }
}

#[tokio::test]
async fn opening_a_conversation_reports_it_created_once_with_its_members() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = pair(&store).await;

        let ((convo, created), opened) = store
            .open_direct_conversation(bob.id, alice.id)
            .await
            .must(b);
        let ((_, again), reopened) = store
            .open_direct_conversation(alice.id, bob.id)
            .await
            .must(b);
        let ((notes, _), own) = store.open_direct_conversation(bob.id, bob.id).await.must(b);

        assert!(created && !again, "{b:?}");
        let members = [alice.id, bob.id];
        let events = [(alice.id, 1), (bob.id, 1)];
        let expected = [direct(
            convo.id,
            &members,
            ConversationChange::Created,
            &events,
        )];
        assert_eq!(opened, expected, "{b:?}: created, members sorted by id");
        assert_eq!(reopened, [], "{b:?}: it existed: nothing changed");
        let events = [(bob.id, 2)];
        let expected = [direct(
            notes.id,
            &[bob.id],
            ConversationChange::Created,
            &events,
        )];
        assert_eq!(own, expected, "{b:?}: notes to self have one member");
    }
}

#[tokio::test]
async fn a_face_send_reports_the_message_after_the_conversation_it_opened() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = pair(&store).await;

        let (first, opened) = store
            .send_direct_message(bob.id, alice.id, "hi")
            .await
            .must(b);
        let (second, sent) = store
            .send_direct_message(alice.id, bob.id, "hello")
            .await
            .must(b);
        let (note, noted) = store
            .send_direct_message(bob.id, bob.id, "note")
            .await
            .must(b);
        let unknown = store
            .send_direct_message(bob.id, UserId(UNKNOWN), "hello?")
            .await;

        let convo = first.message.conversation_id;
        let members = [alice.id, bob.id];
        let at = |n| [(alice.id, n), (bob.id, n)];
        let expected = [
            direct(convo, &members, ConversationChange::Created, &at(1)),
            direct(convo, &members, created(&first.message), &at(2)),
        ];
        assert_eq!(opened, expected, "{b:?}: Created, then MessageCreated");
        assert_eq!(first.message.seq, 1, "{b:?}");
        let expected = [direct(convo, &members, created(&second.message), &at(3))];
        assert_eq!(sent, expected, "{b:?}: the conversation existed");
        assert_eq!(second.message.seq, 2, "{b:?}");
        let notes = note.message.conversation_id;
        let expected = [
            direct(
                notes,
                &[bob.id],
                ConversationChange::Created,
                &[(bob.id, 4)],
            ),
            direct(notes, &[bob.id], created(&note.message), &[(bob.id, 5)]),
        ];
        assert_eq!(noted, expected, "{b:?}: to herself");
        assert_not_found(unknown, b);
    }
}

#[tokio::test]
async fn a_send_reports_one_message_created_and_a_replay_or_refusal_nothing() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = pair(&store).await;
        let [carol] = users(&store, ["carol"]).await;
        let convo = open(&store, &alice, &bob).await.id;

        // Without a key (on PostgreSQL, the one-statement send) and with one.
        let plain = store.send_message(convo, bob.id, "one", None).await;
        let keyed = store.send_message(convo, bob.id, "two", Some(key("k", "h")));
        let keyed = keyed.await;
        let replay = store.send_message(convo, bob.id, "two", Some(key("k", "h")));
        let replay = replay.await;
        let reuse = store.send_message(convo, bob.id, "three", Some(key("k", "h2")));
        let reuse = reuse.await;
        let intruder = store.send_message(convo, carol.id, "hi", None).await;

        let members = [alice.id, bob.id];
        let at = |n| [(alice.id, n), (bob.id, n)];
        let (SendOutcome::Created(one), plain) = plain.must(b) else {
            panic!("{b:?}: expected Created");
        };
        let expected = [direct(convo, &members, created(&one), &at(2))];
        assert_eq!(plain, expected, "{b:?}: exactly one change, without a key");
        let (SendOutcome::Created(two), keyed) = keyed.must(b) else {
            panic!("{b:?}: expected Created");
        };
        assert_eq!(two.seq, 2, "{b:?}");
        let expected = [direct(convo, &members, created(&two), &at(3))];
        assert_eq!(keyed, expected, "{b:?}: exactly one change, with a key");
        let replayed = (SendOutcome::Replayed(two), vec![]);
        assert_eq!(replay.must(b), replayed, "{b:?}: a replay changes nothing");
        let refused = (SendOutcome::KeyReused, vec![]);
        assert_eq!(
            reuse.must(b),
            refused,
            "{b:?}: a refused key changes nothing"
        );
        assert_not_found(intruder, b);
    }
}

#[tokio::test]
async fn edits_deletes_and_hides_report_their_kind_and_refusals_nothing() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = pair(&store).await;
        let convo = open(&store, &alice, &bob).await.id;
        post(&store, convo, &alice, "first").await;
        let message = post(&store, convo, &bob, "v1").await;
        let (id, seq) = (message.id, message.seq);
        let members = [alice.id, bob.id];
        // Opened and two messages: each stream is at 3.
        let change = |what, events: &[(UserId, i64)]| vec![direct(convo, &members, what, events)];
        let both = |n| [(alice.id, n), (bob.id, n)];

        let edited = store.edit_message(id, bob.id, "v2").await.must(b);
        let edit_refused = store.edit_message(id, alice.id, "x").await.must(b);
        let delete_refused = store.delete_message(id, alice.id).await.must(b);
        let hidden = store.hide_message(id, alice.id).await.must(b);
        let hidden_again = store.hide_message(id, alice.id).await.must(b);
        let deleted = store.delete_message(id, bob.id).await.must(b);
        let deleted_again = store.delete_message(id, bob.id).await.must(b);
        let edit_of_tombstone = store.edit_message(id, bob.id, "v3").await.must(b);
        let hidden_by_sender = store.hide_message(id, bob.id).await.must(b);

        let (edit, edited) = edited;
        assert_eq!(done(edit, b).content, "v2", "{b:?}");
        let what = ConversationChange::MessageEdited { message: id, seq };
        assert_eq!(edited, change(what, &both(4)), "{b:?}: edited");
        let not_sender = (Altered::NotSender, vec![]);
        assert_eq!(edit_refused, not_sender, "{b:?}: alice may not edit it");
        assert_eq!(delete_refused, not_sender, "{b:?}: nor delete it");
        let what = ConversationChange::MessageHidden {
            message: id,
            seq,
            by: alice.id,
        };
        let only_alice = [(alice.id, 5)];
        let expected = change(what, &only_alice);
        assert_eq!(
            hidden, expected,
            "{b:?}: hidden by alice: both listed, her stream only"
        );
        assert_eq!(hidden_again, [], "{b:?}: hidden before: nothing changed");
        let (tombstone, deleted) = deleted;
        let tombstone = done(tombstone, b);
        let what = ConversationChange::MessageDeleted { message: id, seq };
        let expected = change(what, &[(alice.id, 6), (bob.id, 5)]);
        assert_eq!(deleted, expected, "{b:?}: deleted");
        let same = (Altered::Done(tombstone), vec![]);
        assert_eq!(
            deleted_again, same,
            "{b:?}: deleted before: nothing changed"
        );
        assert_eq!(edit_of_tombstone, (Altered::Deleted, vec![]), "{b:?}");
        let what = ConversationChange::MessageHidden {
            message: id,
            seq,
            by: bob.id,
        };
        let expected = change(what, &[(bob.id, 6)]);
        assert_eq!(hidden_by_sender, expected, "{b:?}: by the hider");
    }
}

#[tokio::test]
async fn mark_read_reports_where_the_position_moved_and_nothing_when_it_did_not() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = pair(&store).await;
        let convo = open(&store, &alice, &bob).await.id;
        for i in 1..=3 {
            post(&store, convo, &alice, &format!("a{i}")).await;
        }
        let [carol] = users(&store, ["carol"]).await;
        let empty = open(&store, &carol, &bob).await.id;

        let mut marks = Vec::new();
        for seq in [2, 1, 2, 99, 99, -1] {
            let (state, changes) = store.mark_read(convo, bob.id, seq).await.must(b);
            marks.push((seq, state.last_read_seq, changes));
        }
        let (_, in_empty) = store.mark_read(empty, bob.id, 1).await.must(b);

        // Opened and three messages (alice and bob at 4), then bob opened one with carol.
        let read = |from, seq, alices, bobs| {
            let what = ConversationChange::Read {
                user: bob.id,
                from,
                seq,
            };
            let events = [(alice.id, alices), (bob.id, bobs)];
            vec![direct(convo, &[alice.id, bob.id], what, &events)]
        };
        let expected = [
            (2, 2, read(0, 2, 5, 6)),
            (1, 2, vec![]),
            (2, 2, vec![]),
            (99, 3, read(2, 3, 6, 7)),
            (99, 3, vec![]),
            (-1, 3, vec![]),
        ];
        assert_eq!(marks, expected, "{b:?}: a change only when it moved");
        assert_eq!(in_empty, [], "{b:?}: nothing to read, nothing moved");
    }
}
