//! Each user's stream of events, for live delivery: one event per concerned user for every
//! conversation write, at that user's next position (1, 2, 3… with no gaps, in commit order,
//! also under concurrency), read back oldest first with the message as it is now, and purged
//! by age from the oldest end only.

use std::collections::BTreeMap;

use futures::future::join_all;
use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{Altered, Change, Changes, ConversationChange, ConversationId, EventKind};
use missive_store::{EventPage, MessageId, SendOutcome, SqlStore, Timestamp, User};
use missive_store::{StoreError, UserId};

use crate::{Must, UNKNOWN, assert_not_found, done, key, open, post, send, stored, tick, users};

/// More than any test's stream holds: the whole stream in one page.
pub(crate) const ALL: i64 = 10_000;

/// What identifies an event: its position, type, conversation, message, and (for
/// `conversation.read`) whose read position moved and where to.
type Fact = (
    i64,
    EventKind,
    ConversationId,
    Option<MessageId>,
    Option<UserId>,
    Option<i64>,
);

async fn page(store: &SqlStore, user: &User, after: i64, limit: i64) -> EventPage {
    let read = store.events_after(user.id, after, limit).await;
    read.must(store.backend())
}

/// A user's whole stream as kept.
pub(crate) async fn stream(store: &SqlStore, user: &User) -> EventPage {
    page(store, user, 0, ALL).await
}

pub(crate) fn positions(page: &EventPage) -> Vec<i64> {
    page.events.iter().map(|e| e.seq).collect()
}

pub(crate) fn kinds(page: &EventPage) -> Vec<EventKind> {
    page.events.iter().map(|e| e.kind).collect()
}

/// The page's events as facts.
fn read_back(page: &EventPage) -> Vec<Fact> {
    let fact = |e: &missive_store::Event| {
        let message = e.message.as_ref().map(|m| m.id);
        (
            e.seq,
            e.kind,
            e.conversation_id,
            message,
            e.user,
            e.read_seq,
        )
    };
    page.events.iter().map(fact).collect()
}

/// The heads of these users' streams, sorted by user id.
pub(crate) async fn heads(store: &SqlStore, of: &[UserId]) -> Vec<(UserId, i64)> {
    let mut heads = store.event_heads(of).await.must(store.backend());
    heads.sort_unstable();
    heads
}

fn kind_of(what: &ConversationChange) -> EventKind {
    match what {
        ConversationChange::Created => EventKind::ConversationCreated,
        ConversationChange::MessageCreated { .. } => EventKind::MessageCreated,
        ConversationChange::MessageEdited { .. } => EventKind::MessageEdited,
        ConversationChange::MessageDeleted { .. } => EventKind::MessageDeleted,
        ConversationChange::MessageHidden { .. } => EventKind::MessageHidden,
        ConversationChange::Read { .. } => EventKind::ConversationRead,
        ConversationChange::MemberAdded { .. } => EventKind::MemberAdded,
        ConversationChange::MemberRemoved { .. } => EventKind::MemberRemoved,
        ConversationChange::RoleChanged { .. } => EventKind::MemberUpdated,
        ConversationChange::Renamed { .. } => EventKind::ConversationUpdated,
    }
}

/// The events that changes report, as facts per user (sorted by position). Checks on the
/// way that each change lists the users its events go to, sorted by id: every member, or
/// only the one who hid a message.
#[track_caller]
fn reported<'a>(changes: impl IntoIterator<Item = &'a Change>) -> BTreeMap<UserId, Vec<Fact>> {
    let mut facts: BTreeMap<UserId, Vec<Fact>> = BTreeMap::new();
    for change in changes {
        let Change::Conversation {
            conversation,
            members,
            what,
            events,
            ..
        } = change
        else {
            continue;
        };
        let to: Vec<UserId> = events.iter().map(|(user, _)| *user).collect();
        let expected = match what {
            ConversationChange::MessageHidden { by, .. } => vec![*by],
            _ => members.clone(),
        };
        assert_eq!(to, expected, "the users its events went to: {change:?}");
        let (message, reader, read_seq) = match *what {
            ConversationChange::Created => (None, None, None),
            ConversationChange::MessageCreated { message, .. }
            | ConversationChange::MessageEdited { message, .. }
            | ConversationChange::MessageDeleted { message, .. }
            | ConversationChange::MessageHidden { message, .. }
            | ConversationChange::Renamed { message, .. } => (Some(message), None, None),
            ConversationChange::Read { user, seq, .. } => (None, Some(user), Some(seq)),
            ConversationChange::MemberAdded {
                member, message, ..
            }
            | ConversationChange::MemberRemoved {
                member, message, ..
            }
            | ConversationChange::RoleChanged {
                member, message, ..
            } => (Some(message), Some(member), None),
        };
        for (user, seq) in events {
            let fact = (
                *seq,
                kind_of(what),
                *conversation,
                message,
                reader,
                read_seq,
            );
            facts.entry(*user).or_default().push(fact);
        }
    }
    for list in facts.values_mut() {
        list.sort_unstable_by_key(|fact| fact.0);
    }
    facts
}

/// Every user's stream holds exactly the events the changes report (and the user has no
/// other events): positions 1..=N, head N.
pub(crate) async fn assert_streams_match(store: &SqlStore, who: &[&User], changes: &[Change]) {
    let b = store.backend();
    let reported = reported(changes);
    for user in who {
        let mut expected = reported.get(&user.id).cloned().unwrap_or_default();
        // A user who is no longer in a conversation reads its events without their messages,
        // but for the notice of their own removal.
        for fact in &mut expected {
            let (_, kind, conversation, message, about, _) = fact;
            let own_removal = *kind == EventKind::MemberRemoved && *about == Some(user.id);
            if message.is_some()
                && !own_removal
                && !store.is_member(*conversation, user.id).await.must(b)
            {
                *message = None;
            }
        }
        let got = stream(store, user).await;
        let n = expected.len() as i64;
        let numbered: Vec<i64> = expected.iter().map(|fact| fact.0).collect();
        assert_eq!(numbered, (1..=n).collect::<Vec<_>>(), "{b:?}: reported");
        assert_eq!(
            read_back(&got),
            expected,
            "{b:?}: {}'s stream",
            user.username
        );
        assert_eq!((got.head, got.floor), (n, 0), "{b:?}: {}", user.username);
    }
}

#[tokio::test]
async fn a_new_user_starts_at_zero_and_an_unknown_user_has_no_stream() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;

        let fresh = page(&store, &alice, 0, 100).await;
        let unknown = store.events_after(UserId(UNKNOWN), 0, 100).await;
        let none = store.event_heads(&[]).await.must(b);
        open(&store, &alice, &bob).await;
        let known = heads(&store, &[bob.id, UserId(UNKNOWN), alice.id]).await;

        let empty = EventPage {
            events: vec![],
            head: 0,
            floor: 0,
        };
        assert_eq!(fresh, empty, "{b:?}: nothing yet, head 0, floor 0");
        assert_not_found(unknown, b);
        assert_eq!(none, [], "{b:?}: no users asked, none answered");
        let expected = [(alice.id, 1), (bob.id, 1)];
        assert_eq!(known, expected, "{b:?}: the unknown user is left out");
    }
}

#[tokio::test]
async fn every_conversation_write_appends_one_event_per_concerned_member() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let mut changes = Changes::new();

        let (hi, c) = store
            .send_direct_message(bob.id, alice.id, "hi")
            .await
            .must(b);
        changes.extend(c);
        let convo = hi.message.conversation_id;
        let hi = hi.message;
        let (a2, c) = store
            .send_message(convo, alice.id, "a2", None)
            .await
            .must(b);
        changes.extend(c);
        let SendOutcome::Created(a2) = a2 else {
            panic!("{b:?}: expected Created, got {a2:?}");
        };
        let (_, c) = store.edit_message(hi.id, bob.id, "hi!").await.must(b);
        changes.extend(c);
        let (_, c) = store.mark_read(convo, alice.id, 1).await.must(b);
        changes.extend(c);
        changes.extend(store.hide_message(a2.id, bob.id).await.must(b));
        let (_, c) = store.delete_message(a2.id, alice.id).await.must(b);
        changes.extend(c);
        let ((with_carol, _), c) = store
            .open_direct_conversation(carol.id, alice.id)
            .await
            .must(b);
        changes.extend(c);
        let ((notes, _), c) = store.open_direct_conversation(bob.id, bob.id).await.must(b);
        changes.extend(c);

        use EventKind::*;
        let alices = stream(&store, &alice).await;
        let expected = [
            ConversationCreated,
            MessageCreated,
            MessageCreated,
            MessageEdited,
            ConversationRead,
            MessageDeleted,
            ConversationCreated,
        ];
        assert_eq!(kinds(&alices), expected, "{b:?}: alice's stream");
        assert_eq!(positions(&alices), [1, 2, 3, 4, 5, 6, 7], "{b:?}");
        let bobs = stream(&store, &bob).await;
        let expected = [
            ConversationCreated,
            MessageCreated,
            MessageCreated,
            MessageEdited,
            ConversationRead,
            MessageHidden,
            MessageDeleted,
            ConversationCreated,
        ];
        assert_eq!(kinds(&bobs), expected, "{b:?}: bob's, with what he hid");
        assert_eq!(positions(&bobs), [1, 2, 3, 4, 5, 6, 7, 8], "{b:?}");
        let carols = stream(&store, &carol).await;
        assert_eq!(kinds(&carols), [ConversationCreated], "{b:?}: carol's");
        let in_convo: Vec<ConversationId> =
            alices.events.iter().map(|e| e.conversation_id).collect();
        let expected = [convo, convo, convo, convo, convo, convo, with_carol.id];
        assert_eq!(
            in_convo, expected,
            "{b:?}: each event names its conversation"
        );
        let in_convo = bobs.events.last().map(|e| e.conversation_id);
        assert_eq!(in_convo, Some(notes.id), "{b:?}: notes to self: one member");
        let about: Vec<Option<MessageId>> = alices
            .events
            .iter()
            .map(|e| e.message.as_ref().map(|m| m.id))
            .collect();
        let expected = [
            None,
            Some(hi.id),
            Some(a2.id),
            Some(hi.id),
            None,
            Some(a2.id),
            None,
        ];
        assert_eq!(about, expected, "{b:?}: the message each is about");
        for events in [&alices.events[4], &bobs.events[4]] {
            let read = (events.user, events.read_seq);
            assert_eq!(read, (Some(alice.id), Some(1)), "{b:?}: who read, to where");
        }
        let others = alices
            .events
            .iter()
            .chain(&bobs.events)
            .filter(|e| e.kind != ConversationRead);
        for event in others {
            let read = (event.user, event.read_seq);
            assert_eq!(
                read,
                (None, None),
                "{b:?}: only reads say who read: {event:?}"
            );
        }
        let sorted = |e: &[missive_store::Event]| e.windows(2).all(|w| w[0].at <= w[1].at);
        assert!(
            sorted(&alices.events) && sorted(&bobs.events),
            "{b:?}: times rise"
        );
        let all = heads(&store, &[alice.id, bob.id, carol.id]).await;
        let expected = [(alice.id, 7), (bob.id, 8), (carol.id, 1)];
        assert_eq!(all, expected, "{b:?}: event_heads");
        assert_eq!((alices.head, alices.floor), (7, 0), "{b:?}");
        assert_eq!((bobs.head, bobs.floor), (8, 0), "{b:?}");
        assert_streams_match(&store, &[&alice, &bob, &carol], &changes).await;
    }
}

#[tokio::test]
async fn writes_that_change_nothing_append_nothing() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        let keyed = store.send_message(convo, alice.id, "once", Some(key("k", "h")));
        keyed.await.must(b);
        let mine = post(&store, convo, &alice, "mine").await;
        let gone = post(&store, convo, &alice, "gone").await;
        store.hide_message(mine.id, bob.id).await.must(b);
        store.delete_message(gone.id, alice.id).await.must(b);
        store.mark_read(convo, bob.id, 2).await.must(b);
        let everyone = [alice.id, bob.id, carol.id];
        let before = heads(&store, &everyone).await;

        let replay = store.send_message(convo, alice.id, "once", Some(key("k", "h")));
        let (replayed, replay_changes) = replay.await.must(b);
        let reuse = store.send_message(convo, alice.id, "other", Some(key("k", "h2")));
        let (reused, reuse_changes) = reuse.await.must(b);
        let (by_bob, edit_changes) = store.edit_message(mine.id, bob.id, "x").await.must(b);
        let (by_bob_too, delete_changes) = store.delete_message(mine.id, bob.id).await.must(b);
        let (again, again_changes) = store.delete_message(gone.id, alice.id).await.must(b);
        let (tombstone, tomb_changes) = store.edit_message(gone.id, alice.id, "x").await.must(b);
        let hidden_again = store.hide_message(mine.id, bob.id).await.must(b);
        let (_, back) = store.mark_read(convo, bob.id, 1).await.must(b);
        let (_, same) = store.mark_read(convo, bob.id, 2).await.must(b);
        let ((_, created), reopened) = store
            .open_direct_conversation(bob.id, alice.id)
            .await
            .must(b);
        let intruder = store.send_message(convo, carol.id, "hi", None).await;
        let intruder_keyed = store.send_message(convo, carol.id, "hi", Some(key("c", "h")));
        let intruder_keyed = intruder_keyed.await;
        let to_nobody = store
            .send_direct_message(alice.id, UserId(UNKNOWN), "hi?")
            .await;
        let not_hers = store.hide_message(mine.id, carol.id).await;
        let read_not_hers = store.mark_read(convo, carol.id, 1).await;

        assert!(
            matches!(replayed, SendOutcome::Replayed(_)),
            "{b:?}: {replayed:?}"
        );
        assert_eq!(reused, SendOutcome::KeyReused, "{b:?}");
        assert_eq!(
            (by_bob, by_bob_too),
            (Altered::NotSender, Altered::NotSender),
            "{b:?}"
        );
        done(again, b);
        assert_eq!(tombstone, Altered::Deleted, "{b:?}");
        assert!(!created, "{b:?}: it existed");
        let nothing = [
            replay_changes,
            reuse_changes,
            edit_changes,
            delete_changes,
            again_changes,
            tomb_changes,
            hidden_again,
            back,
            same,
            reopened,
        ];
        assert!(nothing.iter().all(Vec::is_empty), "{b:?}: {nothing:?}");
        assert_not_found(intruder, b);
        assert_not_found(intruder_keyed, b);
        assert_not_found(to_nobody, b);
        assert_not_found(not_hers, b);
        assert_not_found(read_not_hers, b);
        assert_eq!(
            heads(&store, &everyone).await,
            before,
            "{b:?}: no event appended"
        );
        let expected = [(alice.id, 6), (bob.id, 7), (carol.id, 0)];
        assert_eq!(before, expected, "{b:?}: what the setup appended");
        for user in [&alice, &bob, &carol] {
            let got = stream(&store, user).await;
            let numbered = (1..=got.head).collect::<Vec<_>>();
            assert_eq!(positions(&got), numbered, "{b:?}: {}", user.username);
        }
    }
}

#[tokio::test]
async fn an_event_reads_the_message_as_it_is_now() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let doomed = send(&store, &alice, &bob, "v1").await;
        let reply = send(&store, &bob, &alice, "reply").await;
        let (edited, _) = store.edit_message(doomed.id, alice.id, "v2").await.must(b);
        let edited = done(edited, b);

        // Alice's stream: created, doomed, reply, edited.
        let alices = stream(&store, &alice).await;
        let created = alices.events[1].message.clone();
        assert_eq!(
            created,
            Some(edited.clone()),
            "{b:?}: a replay shows the edit"
        );
        let again = alices.events[3].message.clone();
        assert_eq!(again, Some(edited.clone()), "{b:?}: message.edited too");
        assert!(edited.edited_at.is_some(), "{b:?}");
        let replied = alices.events[2].message.clone();
        assert_eq!(replied, Some(reply.clone()), "{b:?}: untouched");

        store.hide_message(doomed.id, bob.id).await.must(b);
        let bobs = stream(&store, &bob).await;
        let alices = stream(&store, &alice).await;
        let hidden: Vec<(EventKind, bool)> = bobs
            .events
            .iter()
            .map(|e| (e.kind, e.hidden_from_reader))
            .collect();
        use EventKind::*;
        let expected = [
            (ConversationCreated, false),
            (MessageCreated, true),
            (MessageCreated, false),
            (MessageEdited, true),
            (MessageHidden, true),
        ];
        assert_eq!(hidden, expected, "{b:?}: every event about what bob hid");
        let still = bobs.events[1].message.clone();
        assert_eq!(
            still,
            Some(edited.clone()),
            "{b:?}: the store still returns it"
        );
        let for_alice = alices.events.iter().any(|e| e.hidden_from_reader);
        assert!(!for_alice, "{b:?}: alice hid nothing: {alices:?}");
        assert_eq!(alices.head, 4, "{b:?}: the hide is in bob's stream only");

        let (deleted, _) = store.delete_message(doomed.id, alice.id).await.must(b);
        let tombstone = done(deleted, b);
        let now = stored(&store, doomed.id, &alice).await;
        assert_eq!(now, Some(tombstone.clone()), "{b:?}: as stored");
        for user in [&alice, &bob] {
            let got = stream(&store, user).await;
            let about = got.events.iter().filter(|e| {
                let id = e.message.as_ref().map(|m| m.id);
                id == Some(doomed.id)
            });
            let shown: Vec<(EventKind, Option<&str>)> = about
                .map(|e| (e.kind, e.message.as_ref().map(|m| m.content.as_str())))
                .collect();
            let mut expected = vec![(MessageCreated, Some("")), (MessageEdited, Some(""))];
            if user.id == bob.id {
                expected.push((MessageHidden, Some("")));
            }
            expected.push((MessageDeleted, Some("")));
            assert_eq!(
                shown, expected,
                "{b:?}: {}: never the old text",
                user.username
            );
            for event in &got.events {
                if event.message.as_ref().map(|m| m.id) == Some(doomed.id) {
                    let now = event.message.clone();
                    assert_eq!(now, Some(tombstone.clone()), "{b:?}: the tombstone");
                }
            }
        }
    }
}

#[tokio::test]
async fn events_after_pages_oldest_first_up_to_the_limit() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        for i in 1..=4 {
            post(&store, convo, &bob, &format!("m{i}")).await;
        }

        let mut read = Vec::new();
        for (after, limit) in [(0, 2), (2, 2), (4, 2), (5, 2), (3, 100), (99, 10), (0, 1)] {
            let got = page(&store, &alice, after, limit).await;
            read.push((after, positions(&got), got.head, got.floor));
        }

        let expected = [
            (0, vec![1, 2], 5, 0),
            (2, vec![3, 4], 5, 0),
            (4, vec![5], 5, 0),
            (5, vec![], 5, 0),
            (3, vec![4, 5], 5, 0),
            (99, vec![], 5, 0),
            (0, vec![1], 5, 0),
        ];
        assert_eq!(read, expected, "{b:?}: (after, positions, head, floor)");
        let contents: Vec<String> = page(&store, &alice, 1, 100)
            .await
            .events
            .into_iter()
            .map(|e| e.message.must(b).content)
            .collect();
        assert_eq!(contents, ["m1", "m2", "m3", "m4"], "{b:?}: oldest first");
    }
}

#[tokio::test]
async fn purging_moves_the_floor_and_the_stream_carries_on_after_the_head() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        post(&store, convo, &alice, "old 1").await;
        post(&store, convo, &bob, "old 2").await;
        tick().await;
        let cut = Timestamp::now();
        tick().await;
        post(&store, convo, &alice, "new 1").await;
        post(&store, convo, &bob, "new 2").await;

        let none = store.purge_events(Timestamp(0)).await.must(b);
        let older = store.purge_events(cut).await.must(b);
        let after_cut = stream(&store, &alice).await;
        let from_floor = page(&store, &bob, 3, 100).await;

        assert_eq!(
            (none, older),
            (0, 6),
            "{b:?}: three events each for alice and bob"
        );
        assert_eq!(positions(&after_cut), [4, 5], "{b:?}: the newer ones kept");
        assert_eq!((after_cut.head, after_cut.floor), (5, 3), "{b:?}");
        assert_eq!(
            positions(&from_floor),
            [4, 5],
            "{b:?}: read on from the floor"
        );
        let contents: Vec<String> = after_cut
            .events
            .into_iter()
            .map(|e| e.message.must(b).content)
            .collect();
        assert_eq!(contents, ["new 1", "new 2"], "{b:?}");

        tick().await;
        let rest = store.purge_events(Timestamp::now()).await.must(b);
        let emptied = stream(&store, &alice).await;
        let untouched = stream(&store, &carol).await;

        assert_eq!(rest, 4, "{b:?}: the rest");
        assert_eq!(positions(&emptied), [] as [i64; 0], "{b:?}: nothing kept");
        assert_eq!((emptied.head, emptied.floor), (5, 5), "{b:?}: floor = head");
        assert_eq!((untouched.head, untouched.floor), (0, 0), "{b:?}: carol's");

        post(&store, convo, &bob, "later").await;
        let carried_on = stream(&store, &alice).await;
        assert_eq!(positions(&carried_on), [6], "{b:?}: at the old head + 1");
        assert_eq!((carried_on.head, carried_on.floor), (6, 5), "{b:?}");
        let again = store.purge_events(cut).await.must(b);
        assert_eq!(again, 0, "{b:?}: purged before, nothing left that old");
    }
}

#[tokio::test]
async fn deleting_a_user_leaves_the_peers_stream_as_it_was() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let from_alice = send(&store, &alice, &bob, "from alice").await;
        let to_alice = send(&store, &bob, &alice, "to alice").await;
        let to_carol = send(&store, &bob, &carol, "to carol").await;
        let before = stream(&store, &bob).await;

        store.delete_user(alice.id).await.must(b);
        let after = stream(&store, &bob).await;
        let alices = store.events_after(alice.id, 0, 100).await;
        let known = heads(&store, &[alice.id, bob.id, carol.id]).await;

        assert_eq!(positions(&after), [1, 2, 3, 4, 5], "{b:?}: no gap");
        assert_eq!((after.head, after.floor), (5, 0), "{b:?}");
        assert_eq!(kinds(&after), kinds(&before), "{b:?}: the same events");
        let about: Vec<Option<MessageId>> = after
            .events
            .iter()
            .map(|e| e.message.as_ref().map(|m| m.id))
            .collect();
        let was: Vec<Option<MessageId>> = before
            .events
            .iter()
            .map(|e| e.message.as_ref().map(|m| m.id))
            .collect();
        let expected = [
            None,
            Some(from_alice.id),
            Some(to_alice.id),
            None,
            Some(to_carol.id),
        ];
        assert_eq!(was, expected, "{b:?}: before the deletion");
        assert_eq!(about, was, "{b:?}: what alice sent stays in bob's stream");
        assert!(!after.events.iter().any(|e| e.hidden_from_reader), "{b:?}");
        assert!(
            matches!(alices, Err(StoreError::NotFound)),
            "{b:?}: alice's stream went with her: {alices:?}"
        );
        assert_eq!(known, [(bob.id, 5), (carol.id, 2)], "{b:?}: heads");

        send(&store, &carol, &bob, "still here").await;
        let carried_on = page(&store, &bob, 5, 100).await;
        assert_eq!(
            positions(&carried_on),
            [6],
            "{b:?}: bob's stream carries on"
        );
        // Bob reading the closed conversation appends to his stream only.
        store
            .mark_read(from_alice.conversation_id, bob.id, 2)
            .await
            .must(b);
        let now = heads(&store, &[alice.id, bob.id]).await;
        assert_eq!(now, [(bob.id, 7)], "{b:?}: nothing for alice");
    }
}

/// How a concurrent send goes in: on PostgreSQL, the first two take the one-statement path,
/// the last the transaction path (SQLite always uses a transaction).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Via {
    /// `send_message` without a key.
    Plain,
    /// `send_direct_message`, as the compatibility faces do (by pair, without a key).
    Face,
    /// `send_message` with an idempotency key.
    Keyed,
}

pub(crate) async fn send_via(
    store: &SqlStore,
    via: Via,
    convo: ConversationId,
    from: UserId,
    to: UserId,
    content: String,
) -> Result<Changes, StoreError> {
    match via {
        Via::Plain => Ok(store.send_message(convo, from, &content, None).await?.1),
        Via::Face => Ok(store.send_direct_message(from, to, &content).await?.1),
        Via::Keyed => {
            let idem = key(&content, "hash");
            let (outcome, changes) = store
                .send_message(convo, from, &content, Some(idem))
                .await?;
            assert!(matches!(outcome, SendOutcome::Created(_)), "{outcome:?}");
            Ok(changes)
        }
    }
}

/// Checks what concurrent writes left: every user's stream is exactly 1..=N, head N, with
/// the events that the writes' changes report; and within each conversation, the members'
/// positions of its new messages rise with the messages' seqs (commit order).
async fn assert_gapless_in_commit_order(store: &SqlStore, who: &[&User], changes: &[Change]) {
    let b = store.backend();
    assert_streams_match(store, who, changes).await;
    for user in who {
        let got = stream(store, user).await;
        let mut by_conversation: BTreeMap<ConversationId, Vec<i64>> = BTreeMap::new();
        for event in &got.events {
            if event.kind == EventKind::MessageCreated {
                let message = event.message.as_ref().must(b);
                by_conversation
                    .entry(event.conversation_id)
                    .or_default()
                    .push(message.seq);
            }
        }
        for (convo, seqs) in by_conversation {
            let rising = seqs.windows(2).all(|w| w[0] < w[1]);
            assert!(
                rising,
                "{b:?}: {}'s events of {convo:?}: {seqs:?}",
                user.username
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_in_conversations_sharing_users_number_each_stream_gaplessly() {
    const ROUNDS: usize = 24;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let mut changes = Changes::new();
        let mut pairs = Vec::new();
        for (x, y) in [(&alice, &bob), (&bob, &carol), (&carol, &alice)] {
            let ((convo, _), opened) = store.open_direct_conversation(x.id, y.id).await.must(b);
            changes.extend(opened);
            pairs.push((convo.id, x.id, y.id));
        }

        // Every conversation gets sends from both sides at once, by every path.
        let tasks = (0..ROUNDS).flat_map(|i| {
            let store = store.clone();
            pairs.clone().into_iter().map(move |(convo, x, y)| {
                let store = store.clone();
                let (from, to) = if i % 2 == 0 { (x, y) } else { (y, x) };
                let via = [Via::Plain, Via::Keyed, Via::Face][(i / 2) % 3];
                let content = format!("{convo}-{i}");
                tokio::spawn(async move { send_via(&store, via, convo, from, to, content).await })
            })
        });
        let results = join_all(tasks.collect::<Vec<_>>()).await;
        for result in results {
            changes.extend(result.must(b).must(b));
        }

        // Each user is in two conversations: two openings and 2 × ROUNDS messages.
        let n = 2 + 2 * ROUNDS as i64;
        let all = heads(&store, &[alice.id, bob.id, carol.id]).await;
        assert_eq!(all, [(alice.id, n), (bob.id, n), (carol.id, n)], "{b:?}");
        assert_gapless_in_commit_order(&store, &[&alice, &bob, &carol], &changes).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_of_every_kind_keep_every_stream_gapless() {
    const ROUNDS: usize = 12;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let mut changes = Changes::new();
        // Three conversations sharing users, each with one message from each member to be
        // edited, hidden and deleted while others send and read.
        let mut seeds = Vec::new();
        for (x, y) in [(&alice, &bob), (&bob, &carol), (&carol, &alice)] {
            let ((convo, _), opened) = store.open_direct_conversation(y.id, x.id).await.must(b);
            changes.extend(opened);
            for (from, to) in [(x, y), (y, x)] {
                let (sent, c) = store
                    .send_message(convo.id, from.id, "seed", None)
                    .await
                    .must(b);
                changes.extend(c);
                let SendOutcome::Created(seed) = sent else {
                    panic!("{b:?}: expected Created, got {sent:?}");
                };
                seeds.push((convo.id, seed.id, from.id, to.id));
            }
        }

        let mut tasks = Vec::new();
        for i in 0..ROUNDS {
            for &(convo, seed, from, to) in &seeds {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let content = format!("{seed}-{i}");
                    let via = [Via::Plain, Via::Keyed, Via::Face][i % 3];
                    let mut changes = send_via(&store, via, convo, from, to, content).await?;
                    let ahead = i64::try_from(i).unwrap_or(0) + 2;
                    changes.extend(store.mark_read(convo, to, ahead).await?.1);
                    // Edited, then deleted (an edit after the delete would change nothing).
                    if i == 2 {
                        changes.extend(store.edit_message(seed, from, "edited").await?.1);
                        changes.extend(store.delete_message(seed, from).await?.1);
                    }
                    if i == 5 {
                        changes.extend(store.hide_message(seed, to).await?);
                    }
                    Ok::<_, StoreError>(changes)
                }));
            }
        }
        for result in join_all(tasks).await {
            changes.extend(result.must(b).must(b));
        }

        // Each user is in two conversations, with two seeds in each: per conversation an
        // opening, two seeds, 2 × ROUNDS sends, two edits, one hide (of their peer's seed),
        // two deletes; and the read positions that moved.
        let reads = reported(&changes);
        for user in [&alice, &bob, &carol] {
            let events = reads.get(&user.id).map(Vec::as_slice).unwrap_or_default();
            let moved = events
                .iter()
                .filter(|fact| fact.1 == EventKind::ConversationRead)
                .count();
            let expected = 2 * (1 + 2 + 2 * ROUNDS + 2 + 1 + 2) + moved;
            assert_eq!(events.len(), expected, "{b:?}: {}", user.username);
        }
        assert_gapless_in_commit_order(&store, &[&alice, &bob, &carol], &changes).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purging_by_age_after_concurrent_sends_keeps_each_stream_a_gapless_tail() {
    const ROUNDS: usize = 30;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let everyone = [&alice, &bob, &carol];
        let mut pairs = Vec::new();
        for (x, y) in [(&alice, &bob), (&bob, &carol), (&carol, &alice)] {
            pairs.push((open(&store, x, y).await.id, x.id, y.id));
        }
        let tasks = (0..ROUNDS).flat_map(|i| {
            let store = store.clone();
            pairs.clone().into_iter().map(move |(convo, x, y)| {
                let store = store.clone();
                let (from, to) = if i % 2 == 0 { (x, y) } else { (y, x) };
                let via = [Via::Plain, Via::Keyed, Via::Face][i % 3];
                let content = format!("{convo}-{i}");
                tokio::spawn(async move { send_via(&store, via, convo, from, to, content).await })
            })
        });
        for result in join_all(tasks.collect::<Vec<_>>()).await {
            result.must(b).must(b);
        }
        let mut before = Vec::new();
        for user in everyone {
            before.push(stream(&store, user).await);
        }

        // Times need not rise with positions (on PostgreSQL a send without a key stamps its
        // events with the time it began, before it waited its turn). Purging by age still
        // takes only the oldest end of each stream: everything below the oldest event made
        // since the cut, and nothing else.
        let bobs = &before[1].events;
        let mut cuts = vec![
            bobs[ROUNDS / 2].at,
            bobs[ROUNDS].at,
            bobs[3 * ROUNDS / 2].at,
        ];
        cuts.sort_unstable();
        for cut in cuts {
            store.purge_events(cut).await.must(b);
            for (user, was) in everyone.iter().zip(&before) {
                let kept = stream(&store, user).await;
                let first_since = was.events.iter().find(|e| e.at >= cut);
                let floor = first_since.map_or(was.head, |e| e.seq - 1);
                let name = &user.username;
                assert_eq!((kept.floor, kept.head), (floor, was.head), "{b:?}: {name}");
                let tail: Vec<i64> = (floor + 1..=was.head).collect();
                assert_eq!(positions(&kept), tail, "{b:?}: {name}: a gapless tail");
            }
        }
        assert!(
            before[0].events.len() > 2 * ROUNDS,
            "{b:?}: alice's stream was whole"
        );
    }
}

/// On PostgreSQL, a statement's rows come back in the order of the plan (for the members of
/// a conversation, their rows' places in the heap, which an update that does not fit in its
/// page moves): the events a change lists are sorted by user id all the same.
#[tokio::test]
async fn a_change_lists_its_events_by_user_id_after_member_rows_moved() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, zed] = users(&store, ["alice", "bob", "zed"]).await;
        let convo = open(&store, &alice, &bob).await.id;
        post(&store, convo, &bob, "hi").await;
        // Fill the page that holds alice's and bob's member rows, so that moving alice's
        // read position has to put her row somewhere after bob's.
        for i in 0..160 {
            let [other] = users(&store, [format!("filler{i}").as_str()]).await;
            open(&store, &zed, &other).await;
        }
        store.mark_read(convo, alice.id, 1).await.must(b);

        let keyed = store.send_message(convo, bob.id, "keyed", Some(key("k", "h")));
        let (_, sent) = keyed.await.must(b);
        let message = post(&store, convo, &alice, "plain").await;
        let (_, edited) = store
            .edit_message(message.id, alice.id, "edited")
            .await
            .must(b);
        let (_, read) = store.mark_read(convo, bob.id, 3).await.must(b);

        for changes in [&sent, &edited, &read] {
            let [Change::Conversation { events, .. }] = changes.as_slice() else {
                panic!("{b:?}: one conversation change: {changes:?}");
            };
            let to: Vec<UserId> = events.iter().map(|(user, _)| *user).collect();
            assert_eq!(
                to,
                [alice.id, bob.id],
                "{b:?}: sorted by user id: {changes:?}"
            );
        }
        let mut changes = sent;
        changes.extend(edited);
        changes.extend(read);
        let reported = reported(&changes);
        let alices = page(&store, &alice, 3, 100).await;
        let at = |n: usize| alices.events.get(n).map(|e| (e.seq, e.kind));
        use EventKind::*;
        assert_eq!(at(0), Some((4, MessageCreated)), "{b:?}: the keyed send");
        let bobs_read = reported
            .get(&bob.id)
            .and_then(|facts| facts.last().copied());
        let last = bobs_read.map(|fact| (fact.0, fact.1, fact.4));
        assert_eq!(last, Some((7, ConversationRead, Some(bob.id))), "{b:?}");
    }
}
