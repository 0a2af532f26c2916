//! Groups: creating them, their members and roles (every rule of `GroupStore`, allowed and
//! refused), the notices each change writes into the history at its `seq`, whose streams
//! hear of what, a group's read receipts, and sends racing membership changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::join_all;
use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{Altered, Backend, Change, Changes, ConversationChange, ConversationId};
use missive_store::{ConversationKind, EventKind, HistoryWindow, Member, Message, MessageKind};
use missive_store::{Refusal, Role, Ruled, SqlStore, StoreError, User, UserId};

use crate::events::{ALL, Via, assert_streams_match, heads, kinds, positions, send_via, stream};
use crate::{Must, UNKNOWN, assert_not_found, open, post, read_state, seqs, tick, users, window};

use ConversationKind::{Direct, Group};
use MessageKind::{GroupCreated, MemberAdded, MemberLeft, MemberRemoved, RoleChanged, Text};
use Role::{Admin, Owner};

/// Creates a group owned by `owner` with `members`; its id.
async fn group(store: &SqlStore, owner: &User, title: &str, members: &[&User]) -> ConversationId {
    let ids: Vec<UserId> = members.iter().map(|m| m.id).collect();
    let created = store.create_group(owner.id, title, &ids).await;
    created.must(store.backend()).0.id
}

/// What a group change answered, without what it answers when done: why it was refused, if
/// it was, and its changes.
type Answer = Result<(Option<Refusal>, Changes), StoreError>;

fn answer<T>(result: Result<(Ruled<T>, Changes), StoreError>) -> Answer {
    result.map(|(ruled, changes)| (ruled.err(), changes))
}

/// A change to a group by its actor (the first user).
#[derive(Clone, Copy, Debug)]
enum Op {
    /// Adds a member to a group of at most this many.
    Add(UserId, UserId, i64),
    Remove(UserId, UserId),
    SetRole(UserId, UserId, Role),
    Rename(UserId, &'static str),
}

async fn apply(store: &SqlStore, conversation: ConversationId, op: Op) -> Answer {
    match op {
        Op::Add(actor, member, max) => {
            answer(store.add_member(conversation, actor, member, max).await)
        }
        Op::Remove(actor, member) => answer(store.remove_member(conversation, actor, member).await),
        Op::SetRole(actor, member, role) => {
            answer(store.set_role(conversation, actor, member, role).await)
        }
        Op::Rename(actor, title) => answer(store.rename_group(conversation, actor, title).await),
    }
}

/// What a change that changes nothing answers.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Refused(Refusal),
    /// Done: it was already so.
    AlreadySo,
    /// `StoreError::NotFound`.
    NotFound,
}

/// The changes of a group change that must have been done.
#[track_caller]
fn allowed<T: Debug>(result: Result<(Ruled<T>, Changes), StoreError>, b: Backend) -> Changes {
    let (ruled, changes) = result.must(b);
    assert!(ruled.is_ok(), "{b:?}: expected it done, got {ruled:?}");
    changes
}

/// A conversation change as (conversation, kind, members, what, the users its events went to).
type Seen = (
    ConversationId,
    ConversationKind,
    Vec<UserId>,
    ConversationChange,
    Vec<UserId>,
);

#[track_caller]
fn seen(change: &Change) -> Seen {
    let Change::Conversation {
        conversation,
        kind,
        members,
        what,
        events,
    } = change
    else {
        panic!("expected a conversation change, got {change:?}");
    };
    let to = events.iter().map(|(user, _)| *user).collect();
    (*conversation, *kind, members.clone(), *what, to)
}

fn all_seen(changes: &[Change]) -> Vec<Seen> {
    changes.iter().map(seen).collect()
}

/// Who got an event of each change: its events' users.
fn receivers(changes: &[Change]) -> Vec<Vec<UserId>> {
    changes.iter().map(|c| seen(c).4).collect()
}

/// The `seq` a group change is at (the group's creation: its notice's, 1).
fn seq_of(what: &ConversationChange) -> i64 {
    match *what {
        ConversationChange::Created => 1,
        ConversationChange::MessageCreated { seq, .. }
        | ConversationChange::MessageEdited { seq, .. }
        | ConversationChange::MessageDeleted { seq, .. }
        | ConversationChange::MessageHidden { seq, .. }
        | ConversationChange::Read { seq, .. }
        | ConversationChange::MemberAdded { seq, .. }
        | ConversationChange::MemberRemoved { seq, .. }
        | ConversationChange::RoleChanged { seq, .. }
        | ConversationChange::Renamed { seq, .. } => seq,
    }
}

/// A group's whole history as member `viewer` reads it.
async fn whole(store: &SqlStore, group: ConversationId, viewer: &User) -> Vec<Message> {
    let read = window(store, group, viewer, HistoryWindow::After(0), ALL).await;
    assert!(!read.has_more, "{:?}: all of it", store.backend());
    read.messages
}

/// A message as (seq, kind, sender, subject, content).
fn notice(m: &Message) -> (i64, MessageKind, UserId, Option<UserId>, &str) {
    (m.seq, m.kind, m.sender_id, m.subject_id, m.content.as_str())
}

/// The group's `last_seq`, title and size as member `viewer` sees them.
async fn summary(
    store: &SqlStore,
    group: ConversationId,
    viewer: &User,
) -> (i64, Option<String>, i64) {
    let b = store.backend();
    let read = store.conversation_summary(group, viewer.id).await.must(b);
    let summary = read.must(b);
    (summary.last_seq, summary.title, summary.member_count)
}

/// Every member with their role, in joining order, as `viewer` sees them (one page).
async fn roles(store: &SqlStore, group: ConversationId, viewer: &User) -> Vec<(UserId, Role)> {
    let b = store.backend();
    let members = store.members(group, viewer.id, None, ALL).await.must(b);
    let members = members.must(b);
    members.iter().map(|m| (m.user.id, m.role)).collect()
}

/// What a refused change must leave as it was: the group as `viewer` sees it (history,
/// members, title) and the heads of every watched user's stream.
type Untouched = (
    Vec<Message>,
    Vec<Member>,
    Option<String>,
    Vec<(UserId, i64)>,
);

async fn untouched(
    store: &SqlStore,
    group: ConversationId,
    viewer: &User,
    watched: &[&User],
) -> Untouched {
    let b = store.backend();
    let history = whole(store, group, viewer).await;
    let members = store.members(group, viewer.id, None, ALL).await.must(b);
    let (_, title, _) = summary(store, group, viewer).await;
    let ids: Vec<UserId> = watched.iter().map(|u| u.id).collect();
    (history, members.must(b), title, heads(store, &ids).await)
}

#[tokio::test]
async fn creating_a_group_makes_its_owner_and_members_and_a_created_notice_at_seq_1() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [owner, amy, ben, eve] = users(&store, ["owner", "amy", "ben", "eve"]).await;

        // The owner and a duplicate among the members are ignored.
        let listed = [ben.id, amy.id, owner.id, ben.id];
        let (made, created) = store.create_group(owner.id, "Trip", &listed).await.must(b);

        let everyone = vec![owner.id, amy.id, ben.id];
        assert_eq!((made.kind, made.last_seq), (Group, 1), "{b:?}: {made:?}");
        let [change] = created.as_slice() else {
            panic!("{b:?}: one change: {created:?}");
        };
        let expected = (
            made.id,
            Group,
            everyone.clone(),
            ConversationChange::Created,
            everyone.clone(),
        );
        assert_eq!(
            seen(change),
            expected,
            "{b:?}: every member, one event each"
        );
        let Change::Conversation { events, .. } = change else {
            unreachable!()
        };
        let at_1 = [(owner.id, 1), (amy.id, 1), (ben.id, 1)];
        assert_eq!(events.as_slice(), at_1, "{b:?}: each stream's first event");
        let members = store.members(made.id, amy.id, None, 10).await.must(b);
        let members: Vec<(UserId, Role, i64)> = members
            .must(b)
            .iter()
            .map(|m| (m.user.id, m.role, m.last_read_seq))
            .collect();
        let expected = [
            (owner.id, Owner, 0),
            (amy.id, Role::Member, 0),
            (ben.id, Role::Member, 0),
        ];
        assert_eq!(
            members, expected,
            "{b:?}: the owner and two members, once each"
        );
        let ids = store.member_ids(made.id, ben.id).await.must(b);
        assert_eq!(ids, Some(everyone), "{b:?}");
        let history = whole(&store, made.id, &amy).await;
        let notices: Vec<_> = history.iter().map(notice).collect();
        assert_eq!(notices, [(1, GroupCreated, owner.id, None, "")], "{b:?}");
        for user in [&owner, &amy, &ben] {
            let got = stream(&store, user).await;
            assert_eq!(kinds(&got), [EventKind::ConversationCreated], "{b:?}");
            assert_eq!(got.events[0].conversation_id, made.id, "{b:?}");
        }
        let seen_by_amy = store.conversation_summary(made.id, amy.id).await.must(b);
        let seen_by_amy = seen_by_amy.must(b);
        let facts = (
            seen_by_amy.kind,
            seen_by_amy.title.as_deref(),
            seen_by_amy.member_count,
            seen_by_amy.role,
            seen_by_amy.peer,
            seen_by_amy.read.unread_count,
        );
        let expected = (Group, Some("Trip"), 3, Role::Member, None, 0);
        assert_eq!(facts, expected, "{b:?}: a notice is not unread");
        let outsider = store.conversation_summary(made.id, eve.id).await.must(b);
        assert_eq!(outsider, None, "{b:?}: eve is not in it");

        // An unknown member or owner: nothing is created, nobody hears of anything.
        let who = [owner.id, amy.id, ben.id, eve.id];
        let before = heads(&store, &who).await;
        let ghost = UserId(UNKNOWN);
        let with_ghost = [amy.id, ghost];
        let unknown_member = store.create_group(owner.id, "Ghosts", &with_ghost).await;
        assert_not_found(unknown_member, b);
        let unknown_owner = store.create_group(ghost, "Ghosts", &[amy.id]).await;
        assert_not_found(unknown_owner, b);
        for user in [&owner, &amy] {
            let listed = store.list_conversations(user.id, None, 10).await.must(b);
            let ids: Vec<ConversationId> = listed.iter().map(|c| c.id).collect();
            assert_eq!(ids, [made.id], "{b:?}: no conversation left behind");
        }
        assert_eq!(heads(&store, &who).await, before, "{b:?}: no event");

        // A group of one.
        let (alone, created) = store.create_group(eve.id, "Notes", &[eve.id]).await.must(b);
        let ids = store.member_ids(alone.id, eve.id).await.must(b);
        assert_eq!(ids, Some(vec![eve.id]), "{b:?}");
        let expected = (
            alone.id,
            Group,
            vec![eve.id],
            ConversationChange::Created,
            vec![eve.id],
        );
        assert_eq!(all_seen(&created), [expected], "{b:?}");
    }
}

#[tokio::test]
async fn refused_group_changes_change_nothing_and_a_non_member_is_told_not_found() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let names = ["owner", "admin", "deputy", "amy", "ben", "eve", "new"];
        let [owner, admin, deputy, amy, ben, eve, new] = users(&store, names).await;
        let group = group(&store, &owner, "Club", &[&admin, &deputy, &amy, &ben]).await;
        for a in [&admin, &deputy] {
            allowed(store.set_role(group, owner.id, a.id, Admin).await, b);
        }
        let direct = open(&store, &owner, &amy).await.id;
        let watched = [&owner, &admin, &deputy, &amy, &ben, &eve, &new];
        let before = untouched(&store, group, &owner, &watched).await;
        let (o, ad, dep, a, bn, e, n) = (
            owner.id, admin.id, deputy.id, amy.id, ben.id, eve.id, new.id,
        );
        let (ghost, unknown) = (UserId(UNKNOWN), ConversationId(UNKNOWN));

        use Expect::{AlreadySo, NotFound, Refused};
        use Op::{Add, Remove, Rename, SetRole};
        use Refusal::*;
        let m = Role::Member;
        let cases = [
            // Only owners and admins add; to a full group (five members here), nobody.
            (group, Add(a, n, 10), Refused(NotAllowed)),
            (group, Add(o, ghost, 10), Refused(NoSuchUser)),
            (group, Add(o, n, 5), Refused(Full)),
            (group, Add(ad, n, 4), Refused(Full)),
            // Owners remove admins and members, admins members; nobody the owner.
            (group, Remove(a, bn), Refused(NotAllowed)),
            (group, Remove(a, ad), Refused(NotAllowed)),
            (group, Remove(ad, dep), Refused(NotAllowed)),
            (group, Remove(ad, o), Refused(NotAllowed)),
            (group, Remove(a, o), Refused(NotAllowed)),
            (group, Remove(o, n), Refused(NoSuchMember)),
            (group, Remove(o, ghost), Refused(NoSuchMember)),
            // Only the owner sets roles, not their own.
            (group, SetRole(ad, a, Admin), Refused(NotAllowed)),
            (group, SetRole(ad, ad, Owner), Refused(NotAllowed)),
            (group, SetRole(a, a, Admin), Refused(NotAllowed)),
            (group, SetRole(o, o, m), Refused(NotAllowed)),
            (group, SetRole(o, o, Owner), Refused(NotAllowed)),
            (group, SetRole(o, n, Admin), Refused(NoSuchMember)),
            (group, Rename(a, "Mine"), Refused(NotAllowed)),
            // A direct conversation has none of these.
            (direct, Add(o, n, 10), Refused(NotAGroup)),
            (direct, Remove(o, a), Refused(NotAGroup)),
            (direct, Remove(a, a), Refused(NotAGroup)),
            (direct, SetRole(o, a, Admin), Refused(NotAGroup)),
            (direct, Rename(o, "Us"), Refused(NotAGroup)),
            // Already so: done, and nothing changes.
            (group, Add(o, a, 5), AlreadySo),
            (group, Add(ad, ad, 10), AlreadySo),
            (group, SetRole(o, ad, Admin), AlreadySo),
            (group, SetRole(o, a, m), AlreadySo),
            (group, Rename(ad, "Club"), AlreadySo),
            // Whoever is not a member learns nothing; nor of a conversation that does not exist.
            (group, Add(e, n, 10), NotFound),
            (group, Add(n, n, 10), NotFound),
            (group, Remove(e, a), NotFound),
            (group, Remove(e, e), NotFound),
            (group, SetRole(e, a, Admin), NotFound),
            (group, Rename(e, "Mine"), NotFound),
            (direct, Add(e, n, 10), NotFound),
            (direct, Rename(bn, "Theirs"), NotFound),
            (unknown, Add(o, n, 10), NotFound),
            (unknown, Remove(o, o), NotFound),
            (unknown, SetRole(o, a, Admin), NotFound),
            (unknown, Rename(o, "None"), NotFound),
        ];
        for (conversation, op, expected) in cases {
            let got = apply(&store, conversation, op).await;
            let ok = match (&got, expected) {
                (Ok((refused, changes)), Refused(refusal)) => {
                    *refused == Some(refusal) && changes.is_empty()
                }
                (Ok((refused, changes)), AlreadySo) => refused.is_none() && changes.is_empty(),
                (got, NotFound) => matches!(got, Err(StoreError::NotFound)),
                _ => false,
            };
            assert!(
                ok,
                "{b:?}: {op:?} in {conversation}: {expected:?}, got {got:?}"
            );
        }
        let after = untouched(&store, group, &owner, &watched).await;
        assert_eq!(after, before, "{b:?}: no notice, no member, no event");
        let (last_seq, title, _) = summary(&store, group, &owner).await;
        assert_eq!((last_seq, title.as_deref()), (3, Some("Club")), "{b:?}");
        let ends = store.member_ids(direct, owner.id).await.must(b);
        assert_eq!(ends, Some(vec![owner.id, amy.id]), "{b:?}: still a pair");
    }
}

#[tokio::test]
async fn owners_and_admins_manage_members_and_only_the_owner_changes_roles() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let names = ["owner", "admin", "amy", "ben", "cat", "new"];
        let [owner, admin, amy, ben, cat, new] = users(&store, names).await;
        let (made, mut changes) = store
            .create_group(owner.id, "Club", &[admin.id, amy.id, ben.id, cat.id])
            .await
            .must(b);
        let group = made.id;
        let mut step = |c: Changes| changes.extend(c);

        step(allowed(
            store.set_role(group, owner.id, admin.id, Admin).await,
            b,
        ));
        // Five members: a sixth fits in six.
        let added = store.add_member(group, admin.id, new.id, 6).await.must(b);
        assert_eq!(added.0, Ok(true), "{b:?}: added now");
        step(added.1);
        step(allowed(
            store.rename_group(group, admin.id, "Club 2").await,
            b,
        ));
        step(allowed(
            store.remove_member(group, admin.id, amy.id).await,
            b,
        ));
        step(allowed(
            store.set_role(group, owner.id, ben.id, Admin).await,
            b,
        ));
        step(allowed(
            store.remove_member(group, owner.id, ben.id).await,
            b,
        ));
        step(allowed(
            store
                .set_role(group, owner.id, admin.id, Role::Member)
                .await,
            b,
        ));
        let demoted = store.add_member(group, admin.id, amy.id, 10).await.must(b);
        assert_eq!(
            demoted,
            (Err(Refusal::NotAllowed), vec![]),
            "{b:?}: demoted"
        );
        step(allowed(store.remove_member(group, cat.id, cat.id).await, b));
        // Handing over: the new owner first, then the old one an admin.
        let handover = allowed(store.set_role(group, owner.id, new.id, Owner).await, b);
        assert_eq!(handover.len(), 2, "{b:?}: {handover:?}");
        step(handover);
        let former = store
            .set_role(group, owner.id, admin.id, Admin)
            .await
            .must(b);
        assert_eq!(
            former,
            (Err(Refusal::NotAllowed), vec![]),
            "{b:?}: an admin now"
        );
        step(allowed(
            store.set_role(group, new.id, admin.id, Admin).await,
            b,
        ));
        step(allowed(
            store.remove_member(group, new.id, admin.id).await,
            b,
        ));

        let history = whole(&store, group, &new).await;
        let notices: Vec<_> = history.iter().map(notice).collect();
        let expected = [
            (1, GroupCreated, owner.id, None, ""),
            (2, RoleChanged, owner.id, Some(admin.id), "admin"),
            (3, MemberAdded, admin.id, Some(new.id), ""),
            (4, MessageKind::Renamed, admin.id, None, "Club 2"),
            (5, MemberRemoved, admin.id, Some(amy.id), ""),
            (6, RoleChanged, owner.id, Some(ben.id), "admin"),
            (7, MemberRemoved, owner.id, Some(ben.id), ""),
            (8, RoleChanged, owner.id, Some(admin.id), "member"),
            (9, MemberLeft, cat.id, Some(cat.id), ""),
            (10, RoleChanged, owner.id, Some(new.id), "owner"),
            (11, RoleChanged, owner.id, Some(owner.id), "admin"),
            (12, RoleChanged, new.id, Some(admin.id), "admin"),
            (13, MemberRemoved, new.id, Some(admin.id), ""),
        ];
        assert_eq!(notices, expected, "{b:?}: a notice per change");
        let id = |seq: i64| history[usize::try_from(seq - 1).unwrap_or(0)].id;
        let all = vec![owner.id, admin.id, amy.id, ben.id, cat.id];
        let with_new = vec![owner.id, admin.id, amy.id, ben.id, cat.id, new.id];
        let without = |gone: &[UserId]| -> Vec<UserId> {
            with_new
                .iter()
                .copied()
                .filter(|u| !gone.contains(u))
                .collect()
        };
        use ConversationChange as C;
        let role = |member: &User, seq| C::RoleChanged {
            member: member.id,
            message: id(seq),
            seq,
        };
        let removed = |member: &User, seq| C::MemberRemoved {
            member: member.id,
            message: id(seq),
            seq,
        };
        // The members when each committed: a newcomer among them, one removed (or leaving)
        // too, for the last time.
        let expected = [
            (C::Created, all.clone()),
            (role(&admin, 2), all.clone()),
            (
                C::MemberAdded {
                    member: new.id,
                    message: id(3),
                    seq: 3,
                },
                with_new.clone(),
            ),
            (
                C::Renamed {
                    message: id(4),
                    seq: 4,
                },
                with_new.clone(),
            ),
            (removed(&amy, 5), with_new.clone()),
            (role(&ben, 6), without(&[amy.id])),
            (removed(&ben, 7), without(&[amy.id])),
            (role(&admin, 8), without(&[amy.id, ben.id])),
            (removed(&cat, 9), without(&[amy.id, ben.id])),
            (role(&new, 10), without(&[amy.id, ben.id, cat.id])),
            (role(&owner, 11), without(&[amy.id, ben.id, cat.id])),
            (role(&admin, 12), without(&[amy.id, ben.id, cat.id])),
            (removed(&admin, 13), without(&[amy.id, ben.id, cat.id])),
        ];
        let got = all_seen(&changes);
        let expected: Vec<Seen> = expected
            .into_iter()
            .map(|(what, members)| (group, Group, members.clone(), what, members))
            .collect();
        assert_eq!(got, expected, "{b:?}");
        let everyone = [&owner, &admin, &amy, &ben, &cat, &new];
        assert_streams_match(&store, &everyone, &changes).await;
        let now = roles(&store, group, &owner).await;
        assert_eq!(now, [(owner.id, Admin), (new.id, Owner)], "{b:?}");
        let (last_seq, title, size) = summary(&store, group, &new).await;
        assert_eq!(
            (last_seq, title.as_deref(), size),
            (13, Some("Club 2"), 2),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn a_leaving_owner_hands_over_to_the_longest_standing_admin_else_member() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        // Ids rise in this order; joining order is another: zed, yan, xia, wes.
        let [owner, wes, xia, yan, zed] =
            users(&store, ["owner", "wes", "xia", "yan", "zed"]).await;
        let group = group(&store, &owner, "Relay", &[&zed]).await;
        for member in [&yan, &xia, &wes] {
            tick().await;
            allowed(store.add_member(group, owner.id, member.id, 10).await, b);
        }
        for admin in [&xia, &yan] {
            allowed(store.set_role(group, owner.id, admin.id, Admin).await, b);
        }
        let first_seq = summary(&store, group, &owner).await.0;

        // The owner leaves: yan, the admin who joined first (xia has the lower id).
        let left = allowed(store.remove_member(group, owner.id, owner.id).await, b);
        let after_owner = roles(&store, group, &zed).await;
        // Then yan: xia, the only admin, before zed who joined first.
        let yan_left = allowed(store.remove_member(group, yan.id, yan.id).await, b);
        let after_yan = roles(&store, group, &zed).await;
        // Then xia: no admin is left; zed, the longest-standing member (wes has the lower id).
        let xia_left = allowed(store.remove_member(group, xia.id, xia.id).await, b);
        let after_xia = roles(&store, group, &zed).await;

        let m = Role::Member;
        let expected = [(zed.id, m), (yan.id, Owner), (xia.id, Admin), (wes.id, m)];
        assert_eq!(after_owner, expected, "{b:?}: the longest-standing admin");
        let expected = [(zed.id, m), (xia.id, Owner), (wes.id, m)];
        assert_eq!(after_yan, expected, "{b:?}: an admin before any member");
        let expected = [(zed.id, Owner), (wes.id, m)];
        assert_eq!(
            after_xia, expected,
            "{b:?}: else the longest-standing member"
        );
        let history = whole(&store, group, &zed).await;
        let tail: Vec<_> = history
            .iter()
            .skip(first_seq as usize)
            .map(notice)
            .collect();
        let s = first_seq;
        let expected = [
            (s + 1, MemberLeft, owner.id, Some(owner.id), ""),
            (s + 2, RoleChanged, owner.id, Some(yan.id), "owner"),
            (s + 3, MemberLeft, yan.id, Some(yan.id), ""),
            (s + 4, RoleChanged, yan.id, Some(xia.id), "owner"),
            (s + 5, MemberLeft, xia.id, Some(xia.id), ""),
            (s + 6, RoleChanged, xia.id, Some(zed.id), "owner"),
        ];
        assert_eq!(tail, expected, "{b:?}: left, then who owns it now");
        let what = all_seen(&left);
        let still = vec![wes.id, xia.id, yan.id, zed.id];
        let expected = [
            (
                group,
                Group,
                vec![owner.id, wes.id, xia.id, yan.id, zed.id],
                ConversationChange::MemberRemoved {
                    member: owner.id,
                    message: history[s as usize].id,
                    seq: s + 1,
                },
                vec![owner.id, wes.id, xia.id, yan.id, zed.id],
            ),
            (
                group,
                Group,
                still.clone(),
                ConversationChange::RoleChanged {
                    member: yan.id,
                    message: history[s as usize + 1].id,
                    seq: s + 2,
                },
                still,
            ),
        ];
        assert_eq!(
            what, expected,
            "{b:?}: the owner hears they left, not the rest"
        );
        assert_eq!((yan_left.len(), xia_left.len()), (2, 2), "{b:?}");
        let gone = store.member_ids(group, owner.id).await.must(b);
        assert_eq!(gone, None, "{b:?}: the owner is no longer a member");
        let owners_stream = stream(&store, &owner).await;
        let last = owners_stream.events.last().map(|e| (e.kind, e.user));
        assert_eq!(
            last,
            Some((EventKind::MemberRemoved, Some(owner.id))),
            "{b:?}"
        );
        assert_streams_left_alone(&store, &owner, owners_stream.head, group, &zed).await;
    }
}

/// After `user`'s stream reached `head`, more happens in `group` (a text from `member`): the
/// user is no longer in it, and their stream hears nothing more.
async fn assert_streams_left_alone(
    store: &SqlStore,
    user: &User,
    head: i64,
    group: ConversationId,
    member: &User,
) {
    let b = store.backend();
    post(store, group, member, "after you left").await;
    let stayed = stream(store, user).await;
    assert_eq!(
        stayed.head, head,
        "{b:?}: {} heard nothing more",
        user.username
    );
    let sent = store.send_message(group, user.id, "let me in", None).await;
    assert_not_found(sent, b);
}

#[tokio::test]
async fn a_group_whose_last_member_leaves_is_deleted_with_its_history() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [owner, amy] = users(&store, ["owner", "amy"]).await;
        let group = group(&store, &owner, "Short-lived", &[&amy]).await;
        let text = post(&store, group, &amy, "bye").await;
        allowed(store.remove_member(group, amy.id, amy.id).await, b);
        let before = stream(&store, &owner).await.head;

        let last = allowed(store.remove_member(group, owner.id, owner.id).await, b);

        let what = all_seen(&last);
        let [(_, _, members, ConversationChange::MemberRemoved { member, seq, .. }, to)] =
            what.as_slice()
        else {
            panic!("{b:?}: one removal, no successor: {what:?}");
        };
        let facts = (members.clone(), *member, *seq, to.clone());
        assert_eq!(
            facts,
            (vec![owner.id], owner.id, 4, vec![owner.id]),
            "{b:?}"
        );
        let Change::Conversation { events, .. } = &last[0] else {
            unreachable!()
        };
        assert_eq!(events.as_slice(), [(owner.id, before + 1)], "{b:?}");
        let listed = store.list_conversations(owner.id, None, 10).await.must(b);
        assert!(listed.is_empty(), "{b:?}: gone: {listed:?}");
        let read = store.conversation_messages(group, owner.id, HistoryWindow::Latest, 10);
        assert_not_found(read.await, b);
        assert_eq!(
            store.member_ids(group, owner.id).await.must(b),
            None,
            "{b:?}"
        );
        let kind = store.message_conversation_kind(text.id, owner.id).await;
        assert_eq!(kind.must(b), None, "{b:?}: its messages went with it");
        let rejoin = store.add_member(group, owner.id, amy.id, 10).await;
        assert_not_found(rejoin, b);
        // The streams keep what they heard, whole: the message is gone from it.
        let owners = stream(&store, &owner).await;
        assert_eq!(
            positions(&owners),
            (1..=before + 1).collect::<Vec<_>>(),
            "{b:?}"
        );
        let gone = owners.events.last().map(|e| (e.kind, e.message.is_none()));
        assert_eq!(gone, Some((EventKind::MemberRemoved, true)), "{b:?}");
    }
}

#[tokio::test]
async fn notices_take_their_seq_among_texts_and_are_neither_edited_deleted_nor_unread() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [owner, amy, ben, cat, eve] =
            users(&store, ["owner", "amy", "ben", "cat", "eve"]).await;
        let group = group(&store, &owner, "Club", &[&amy]).await;
        post(&store, group, &amy, "first").await;
        allowed(store.rename_group(group, owner.id, "Club 2").await, b);
        allowed(store.add_member(group, owner.id, ben.id, 10).await, b);
        let bens_start = read_state(&store, group, &ben).await;
        let bens_row = store
            .members(group, owner.id, None, 10)
            .await
            .must(b)
            .must(b);
        post(&store, group, &amy, "second").await;
        post(&store, group, &owner, "third").await;
        allowed(store.set_role(group, owner.id, amy.id, Admin).await, b);
        allowed(store.add_member(group, amy.id, cat.id, 10).await, b);
        allowed(store.remove_member(group, amy.id, cat.id).await, b);
        allowed(store.add_member(group, owner.id, eve.id, 10).await, b);
        allowed(store.remove_member(group, eve.id, eve.id).await, b);

        let history = whole(&store, group, &ben).await;
        let notices: Vec<_> = history.iter().map(notice).collect();
        let expected = [
            (1, GroupCreated, owner.id, None, ""),
            (2, Text, amy.id, None, "first"),
            (3, MessageKind::Renamed, owner.id, None, "Club 2"),
            (4, MemberAdded, owner.id, Some(ben.id), ""),
            (5, Text, amy.id, None, "second"),
            (6, Text, owner.id, None, "third"),
            (7, RoleChanged, owner.id, Some(amy.id), "admin"),
            (8, MemberAdded, amy.id, Some(cat.id), ""),
            (9, MemberRemoved, amy.id, Some(cat.id), ""),
            (10, MemberAdded, owner.id, Some(eve.id), ""),
            (11, MemberLeft, eve.id, Some(eve.id), ""),
        ];
        assert_eq!(notices, expected, "{b:?}: ben reads it all");
        assert_eq!(summary(&store, group, &ben).await.0, 11, "{b:?}: last_seq");

        // Ben joined at the notice of his adding: nothing unread, whatever came before.
        assert_eq!(
            (bens_start.last_read_seq, bens_start.unread_count),
            (4, 0),
            "{b:?}"
        );
        let row = bens_row.iter().find(|m| m.user.id == ben.id).must(b);
        assert_eq!((row.last_read_seq, row.role), (4, Role::Member), "{b:?}");
        // Only texts from others count: none of the seven notices.
        let unread = [
            read_state(&store, group, &owner).await,
            read_state(&store, group, &amy).await,
            read_state(&store, group, &ben).await,
        ];
        let counts: Vec<(i64, i64)> = unread
            .iter()
            .map(|s| (s.last_read_seq, s.unread_count))
            .collect();
        assert_eq!(
            counts,
            [(0, 2), (0, 1), (4, 2)],
            "{b:?}: texts from others only"
        );

        // Nobody edits or deletes a notice, not even its sender (the owner or amy, for all but
        // eve's, who left); a non-member learns nothing.
        for message in history.iter().filter(|m| m.kind != Text) {
            for user in [owner.id, amy.id, ben.id] {
                let edit = store.edit_message(message.id, user, "forged").await.must(b);
                assert_eq!(edit, (Altered::Notice, vec![]), "{b:?}: {message:?}");
                let delete = store.delete_message(message.id, user).await.must(b);
                assert_eq!(delete, (Altered::Notice, vec![]), "{b:?}: {message:?}");
            }
            assert_not_found(store.edit_message(message.id, cat.id, "x").await, b);
            assert_not_found(store.delete_message(message.id, cat.id).await, b);
        }
        assert_eq!(
            whole(&store, group, &owner).await,
            history,
            "{b:?}: unchanged"
        );
        // A text still is edited by its sender, in a group as anywhere.
        let first = history[1].id;
        let edited = store.edit_message(first, amy.id, "first!").await.must(b);
        assert!(matches!(edited.0, Altered::Done(_)), "{b:?}: {edited:?}");
        let by_owner = store.delete_message(first, owner.id).await.must(b);
        assert_eq!(by_owner, (Altered::NotSender, vec![]), "{b:?}");
    }
}

#[tokio::test]
async fn member_events_reach_the_newcomer_and_the_one_removed_and_then_stop() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [owner, amy, ben] = users(&store, ["owner", "amy", "ben"]).await;
        let (made, mut changes) = store
            .create_group(owner.id, "Club", &[amy.id])
            .await
            .must(b);
        let group = made.id;

        let added = allowed(store.add_member(group, owner.id, ben.id, 10).await, b);
        let removed = allowed(store.remove_member(group, owner.id, amy.id).await, b);
        let amys_head = stream(&store, &amy).await.head;
        let (sent, more) = store.send_message(group, ben.id, "hi", None).await.must(b);
        changes.extend(added.clone());
        changes.extend(removed.clone());
        changes.extend(more);
        changes.extend(allowed(store.rename_group(group, owner.id, "Two").await, b));
        changes.extend(allowed(
            store.set_role(group, owner.id, ben.id, Admin).await,
            b,
        ));

        let all = [owner.id, amy.id, ben.id];
        assert_eq!(receivers(&added), [all], "{b:?}: ben too");
        assert_eq!(receivers(&removed), [all], "{b:?}: amy too");
        assert!(
            matches!(sent, missive_store::SendOutcome::Created(_)),
            "{b:?}"
        );
        assert_streams_match(&store, &[&owner, &amy, &ben], &changes).await;
        let amys = stream(&store, &amy).await;
        assert_eq!(amys.head, amys_head, "{b:?}: nothing after her removal");
        let about = |e: &missive_store::Event| {
            let notice = e.message.as_ref().map(|m| (m.kind, m.subject_id));
            (e.kind, e.user, notice)
        };
        let amys: Vec<_> = amys.events.iter().map(about).collect();
        use EventKind as E;
        // Out of the group, amy reads what happened while she was in without the group's
        // messages, but for the notice of her own removal.
        let expected = [
            (E::ConversationCreated, None, None),
            (E::MemberAdded, Some(ben.id), None),
            (
                E::MemberRemoved,
                Some(amy.id),
                Some((MemberRemoved, Some(amy.id))),
            ),
        ];
        assert_eq!(amys, expected, "{b:?}: amy's stream, about whom");
        let bens: Vec<_> = stream(&store, &ben)
            .await
            .events
            .iter()
            .map(about)
            .collect();
        let expected = [
            (
                E::MemberAdded,
                Some(ben.id),
                Some((MemberAdded, Some(ben.id))),
            ),
            (
                E::MemberRemoved,
                Some(amy.id),
                Some((MemberRemoved, Some(amy.id))),
            ),
            (E::MessageCreated, None, Some((Text, None))),
            (
                E::ConversationUpdated,
                None,
                Some((MessageKind::Renamed, None)),
            ),
            (
                E::MemberUpdated,
                Some(ben.id),
                Some((RoleChanged, Some(ben.id))),
            ),
        ];
        assert_eq!(bens, expected, "{b:?}: ben's starts with his adding");
        assert_streams_left_alone(&store, &amy, amys_head, group, &ben).await;
    }
}

#[tokio::test]
async fn a_group_read_receipt_goes_to_the_reader_and_the_senders_of_what_was_newly_read() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let names = ["owner", "amy", "ben", "cat", "dan"];
        let [owner, amy, ben, cat, dan] = users(&store, names).await;
        let group = group(&store, &owner, "Club", &[&amy, &ben, &cat, &dan]).await;
        let everyone = [owner.id, amy.id, ben.id, cat.id, dan.id];
        post(&store, group, &amy, "2").await;
        post(&store, group, &ben, "3").await;
        allowed(store.rename_group(group, owner.id, "Club 2").await, b);
        let before = heads(&store, &everyone).await;

        // (0, 4]: amy's and ben's texts; the owner's notice is no text.
        let (state, first) = store.mark_read(group, cat.id, 4).await.must(b);
        let after = heads(&store, &everyone).await;
        assert_eq!(state.last_read_seq, 4, "{b:?}");
        let [change] = first.as_slice() else {
            panic!("{b:?}: {first:?}");
        };
        let read = ConversationChange::Read {
            user: cat.id,
            from: 0,
            seq: 4,
        };
        let expected = (
            group,
            Group,
            everyone.to_vec(),
            read,
            vec![amy.id, ben.id, cat.id],
        );
        assert_eq!(seen(change), expected, "{b:?}: all members, three events");
        let moved: Vec<UserId> = before
            .iter()
            .zip(&after)
            .filter(|(was, now)| was != now)
            .map(|(was, _)| was.0)
            .collect();
        assert_eq!(
            moved,
            [amy.id, ben.id, cat.id],
            "{b:?}: the streams that heard"
        );
        let last = stream(&store, &amy).await.events.pop().must(b);
        let facts = (last.kind, last.user, last.read_seq, last.conversation_id);
        let expected = (EventKind::ConversationRead, Some(cat.id), Some(4), group);
        assert_eq!(facts, expected, "{b:?}: amy hears cat read to 4");

        // (4, 5]: only dan's new text; amy's at 2 was read before.
        post(&store, group, &dan, "5").await;
        let (_, second) = store.mark_read(group, cat.id, 9).await.must(b);
        // The reader's own text: only their own stream.
        post(&store, group, &cat, "6").await;
        let (_, own) = store.mark_read(group, cat.id, 6).await.must(b);
        let (_, again) = store.mark_read(group, cat.id, 6).await.must(b);
        // A sender who has left hears nothing: (0, 6] for dan, whose own text is at 5.
        allowed(store.remove_member(group, ben.id, ben.id).await, b);
        let (_, dans) = store.mark_read(group, dan.id, 7).await.must(b);

        assert_eq!(receivers(&second), [vec![cat.id, dan.id]], "{b:?}");
        let what = seen(&second[0]).3;
        let expected = ConversationChange::Read {
            user: cat.id,
            from: 4,
            seq: 5,
        };
        assert_eq!(what, expected, "{b:?}: never past the last message");
        assert_eq!(receivers(&own), [vec![cat.id]], "{b:?}: nobody else");
        assert_eq!(again, [], "{b:?}: it did not move");
        assert_eq!(receivers(&dans), [vec![amy.id, cat.id, dan.id]], "{b:?}");

        // In a direct conversation both members still hear of it, sender or not.
        let pair = open(&store, &amy, &ben).await.id;
        post(&store, pair, &amy, "note").await;
        let (_, direct) = store.mark_read(pair, amy.id, 1).await.must(b);
        let read = ConversationChange::Read {
            user: amy.id,
            from: 0,
            seq: 1,
        };
        let both = vec![amy.id, ben.id];
        let expected = (pair, Direct, both.clone(), read, both);
        assert_eq!(all_seen(&direct), [expected], "{b:?}");
    }
}

#[tokio::test]
async fn members_page_in_joining_order_and_only_members_see_them() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        // Ids rise in this order; wes joins last.
        let names = ["wes", "owner", "amy", "ben", "eve"];
        let [wes, owner, amy, ben, eve] = users(&store, names).await;
        let group = group(&store, &owner, "Club", &[&ben, &amy]).await;
        tick().await;
        allowed(store.add_member(group, owner.id, wes.id, 10).await, b);
        let direct = open(&store, &owner, &eve).await.id;

        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = store.members(group, wes.id, after, 2).await.must(b).must(b);
            let ids: Vec<UserId> = page.iter().map(|m| m.user.id).collect();
            pages.push(ids);
            let Some(last) = page.last() else { break };
            after = Some((last.joined_at, last.user.id));
        }
        let all = store
            .members(group, owner.id, None, 10)
            .await
            .must(b)
            .must(b);

        // Created together: by id within the same moment; wes after them, whatever his id.
        let expected = [vec![owner.id, amy.id], vec![ben.id, wes.id], vec![]];
        assert_eq!(pages, expected, "{b:?}: pages of two, then none");
        let shown: Vec<(&str, Option<&str>, Role)> = all
            .iter()
            .map(|m| {
                (
                    m.user.username.as_str(),
                    m.user.full_name.as_deref(),
                    m.role,
                )
            })
            .collect();
        let member = Role::Member;
        let expected = [
            ("owner", Some("owner Example"), Owner),
            ("amy", Some("amy Example"), member),
            ("ben", Some("ben Example"), member),
            ("wes", Some("wes Example"), member),
        ];
        assert_eq!(shown, expected, "{b:?}: profiles and roles");
        let joined: Vec<_> = all.iter().map(|m| m.joined_at).collect();
        assert!(
            joined[0] == joined[2] && joined[2] < joined[3],
            "{b:?}: {joined:?}"
        );
        let ids = store.member_ids(group, amy.id).await.must(b);
        assert_eq!(
            ids,
            Some(vec![wes.id, owner.id, amy.id, ben.id]),
            "{b:?}: by id"
        );

        let unknown = ConversationId(UNKNOWN);
        for (conversation, viewer) in [(group, &eve), (unknown, &owner), (direct, &amy)] {
            let members = store.members(conversation, viewer.id, None, 10).await;
            assert_eq!(members.must(b), None, "{b:?}: not theirs to see");
            let ids = store.member_ids(conversation, viewer.id).await.must(b);
            assert_eq!(ids, None, "{b:?}");
        }
        allowed(store.remove_member(group, owner.id, ben.id).await, b);
        assert_eq!(
            store.members(group, ben.id, None, 10).await.must(b),
            None,
            "{b:?}"
        );
        assert_eq!(store.member_ids(group, ben.id).await.must(b), None, "{b:?}");
        let ids = store.member_ids(group, wes.id).await.must(b);
        assert_eq!(ids, Some(vec![wes.id, owner.id, amy.id]), "{b:?}: ben left");
        // A direct conversation's two members, both plain members.
        let pair = store
            .members(direct, eve.id, None, 10)
            .await
            .must(b)
            .must(b);
        let pair: Vec<(UserId, Role)> = pair.iter().map(|m| (m.user.id, m.role)).collect();
        assert_eq!(pair, [(owner.id, member), (eve.id, member)], "{b:?}");
    }
}

#[tokio::test]
async fn message_conversation_kind_tells_members_alone_where_a_message_is() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [owner, amy, eve] = users(&store, ["owner", "amy", "eve"]).await;
        let direct = open(&store, &owner, &amy).await.id;
        let in_pair = post(&store, direct, &amy, "psst").await;
        let group = group(&store, &owner, "Club", &[&amy, &eve]).await;
        let in_group = post(&store, group, &amy, "hello").await;
        let created = whole(&store, group, &owner).await[0].id;
        allowed(store.remove_member(group, owner.id, eve.id).await, b);

        let asked = [
            (in_pair.id, &owner, Some(Direct)),
            (in_pair.id, &amy, Some(Direct)),
            (in_pair.id, &eve, None),
            (in_group.id, &owner, Some(Group)),
            (created, &amy, Some(Group)),
            (in_group.id, &eve, None),
            (created, &eve, None),
            (missive_store::MessageId(UNKNOWN), &owner, None),
        ];
        for (message, viewer, expected) in asked {
            let kind = store.message_conversation_kind(message, viewer.id).await;
            assert_eq!(
                kind.must(b),
                expected,
                "{b:?}: {message} as {}",
                viewer.username
            );
        }
    }
}

/// What a task of the race below does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    /// The actor sends (without a key, then with one, in turn).
    Send,
    /// The actor adds the subject.
    Add,
    /// The actor removes the subject (or leaves).
    Remove,
}

/// One act and what the store answered: its changes, or the error.
type Outcome = (Act, UserId, Result<Changes, StoreError>);

async fn act(
    store: &SqlStore,
    group: ConversationId,
    (what, actor, subject): (Act, UserId, UserId),
    (script, n): (usize, usize),
) -> Outcome {
    let change = match what {
        Act::Send => {
            let via = [Via::Plain, Via::Keyed][n % 2];
            // Unique per send: the content is the key of a keyed one.
            let content = format!("{actor}-{script}-{n}");
            return (
                what,
                subject,
                send_via(store, via, group, actor, actor, content).await,
            );
        }
        Act::Add => Op::Add(actor, subject, 1_000),
        Act::Remove => Op::Remove(actor, subject),
    };
    let result = apply(store, group, change).await.map(|(refused, changes)| {
        assert_eq!(refused, None, "{change:?}");
        changes
    });
    (what, subject, result)
}

/// Runs each script on a task of its own (its acts one after another), all at once.
async fn race(
    store: &SqlStore,
    group: ConversationId,
    scripts: Vec<Vec<(Act, UserId, UserId)>>,
) -> Vec<Outcome> {
    let tasks = scripts.into_iter().enumerate().map(|(i, script)| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut done = Vec::new();
            for (n, step) in script.into_iter().enumerate() {
                done.push(act(&store, group, step, (i, n)).await);
                tokio::task::yield_now().await;
            }
            done
        })
    });
    let b = store.backend();
    let finished = join_all(tasks.collect::<Vec<_>>()).await;
    finished.into_iter().flat_map(|r| r.must(b)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sends_racing_adds_and_removals_keep_seqs_gapless_and_go_to_the_members_at_their_seq() {
    const SENDS: usize = 8;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let names = [
            "owner", "s1", "s2", "l1", "l2", "l3", "l4", "j1", "j2", "j3",
        ];
        let everyone = users(&store, names).await;
        let [owner, s1, s2, l1, l2, l3, l4, j1, j2, j3] = &everyone;
        let first: Vec<UserId> = [s1, s2, l1, l2, l3, l4].iter().map(|u| u.id).collect();
        let (made, mut changes) = store.create_group(owner.id, "Busy", &first).await.must(b);
        let group = made.id;
        let leavers = [l1.id, l2.id, l3.id, l4.id];

        let sends = |who: &User, n: usize| vec![(Act::Send, who.id, who.id); n];
        let mut scripts = Vec::new();
        // Members throughout, and the four to be removed, send all along.
        for who in [owner, s1, s2, l1, l2, l3, l4] {
            scripts.push(sends(who, SENDS));
        }
        // Two are removed by the owner, two leave, each after a few sends of the remover.
        for (remover, leaver) in [(owner, l1), (l3, l3), (owner, l2), (l4, l4)] {
            let mut script = sends(remover, 3);
            script.push((Act::Remove, remover.id, leaver.id));
            scripts.push(script);
        }
        // Three join, and send once in.
        for joiner in [j1, j2, j3] {
            let mut script = vec![(Act::Add, owner.id, joiner.id)];
            script.extend(sends(joiner, SENDS / 2));
            scripts.push(script);
        }
        let outcomes = race(&store, group, scripts).await;

        let mut sent = 0;
        for (what, subject, result) in &outcomes {
            match result {
                Ok(c) => {
                    sent += usize::from(*what == Act::Send);
                    changes.extend(c.iter().cloned());
                }
                // A removed member's send that came after the removal.
                Err(StoreError::NotFound) if *what == Act::Send && leavers.contains(subject) => {}
                Err(err) => panic!("{b:?}: {what:?} {subject}: {err}"),
            }
        }

        // Gapless and unique: every seq once, each with the one change that took it.
        let history = whole(&store, group, owner).await;
        let last_seq = summary(&store, group, owner).await.0;
        assert_eq!(seqs(&history), (1..=last_seq).collect::<Vec<_>>(), "{b:?}");
        let texts = history.iter().filter(|m| m.kind == Text).count();
        assert_eq!(texts, sent, "{b:?}: one text per send done");
        assert_eq!(
            history.len(),
            1 + sent + 3 + 4,
            "{b:?}: created, texts, 3 in, 4 out"
        );
        let mut by_seq: BTreeMap<i64, &Change> = BTreeMap::new();
        for change in &changes {
            let (_, _, _, what, _) = seen(change);
            let taken = by_seq.insert(seq_of(&what), change);
            assert!(taken.is_none(), "{b:?}: two changes at one seq: {change:?}");
        }
        assert_eq!(by_seq.len(), history.len(), "{b:?}: one change per seq");

        // Each change went to the members when it took its seq: a newcomer from the notice
        // of their adding on, a removed member up to the notice of their removal.
        let mut members: BTreeSet<UserId> = first.iter().copied().collect();
        members.insert(owner.id);
        let mut removed_at = BTreeMap::new();
        for message in &history {
            let (_, kind, listed, what, to) = seen(by_seq[&message.seq]);
            if message.kind == MemberAdded {
                members.insert(message.subject_id.must(b));
            }
            let expected: Vec<UserId> = members.iter().copied().collect();
            let at = message.seq;
            assert_eq!(
                (kind, &listed, &to),
                (Group, &expected, &expected),
                "{b:?}: {at}"
            );
            let about = match what {
                ConversationChange::Created => history[0].id,
                ConversationChange::MessageCreated { message, .. }
                | ConversationChange::MemberAdded { message, .. }
                | ConversationChange::MemberRemoved { message, .. } => message,
                other => panic!("{b:?}: {other:?}"),
            };
            assert_eq!(
                about, message.id,
                "{b:?}: the change names the message at {at}"
            );
            if matches!(message.kind, MemberRemoved | MemberLeft) {
                let subject = message.subject_id.must(b);
                members.remove(&subject);
                removed_at.insert(subject, message.seq);
            }
        }
        assert_eq!(removed_at.len(), 4, "{b:?}: {removed_at:?}");
        // And every stream holds exactly the events the changes report: each user got an
        // event for the messages at the seqs they were a member at, and for no other.
        let who: Vec<&User> = everyone.iter().collect();
        assert_streams_match(&store, &who, &changes).await;

        // A removed member's send raced their removal: before it, or refused.
        for message in history.iter().filter(|m| m.kind == Text) {
            if let Some(&removal) = removed_at.get(&message.sender_id) {
                assert!(
                    message.seq < removal,
                    "{b:?}: sent after removal: {message:?}"
                );
            }
        }
        let expected: Vec<UserId> = [owner, s1, s2, j1, j2, j3].iter().map(|u| u.id).collect();
        let mut expected = expected;
        expected.sort_unstable();
        let ids = store.member_ids(group, owner.id).await.must(b);
        assert_eq!(ids, Some(expected), "{b:?}: who is in it now");
    }
}

/// On PostgreSQL a change locks the group's row, then the rows of its members it writes, then
/// (to append events) the members' stream heads; marking read locks the reader's member row,
/// then heads. A change that wrote a member row after taking the heads (removing, handing
/// over, a leaving owner's successor) would deadlock with that member marking read.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_racing_removals_and_handovers_neither_deadlock_nor_fail() {
    const ROUNDS: usize = 8;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let names = ["owner", "heir", "m1", "m2", "m3"];
        let everyone = users(&store, names).await;
        let [owner, heir, m1, m2, m3] = &everyone;
        let group = group(&store, owner, "Busy", &[heir, m1, m2, m3]).await;
        let stop = Arc::new(AtomicBool::new(false));

        // Everyone sends and reads what came in, until the changes are done (refused while
        // out of the group).
        let mut tasks = Vec::new();
        for user in &everyone {
            let (store, id, stop) = (store.clone(), user.id, stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sent = store.send_message(group, id, "hi", None).await;
                    let read = store.mark_read(group, id, i64::MAX).await;
                    for result in [sent.map(|_| ()), read.map(|_| ())] {
                        match result {
                            Ok(()) | Err(StoreError::NotFound) => {}
                            Err(err) => return Err(err.to_string()),
                        }
                    }
                }
                Ok(())
            }));
        }
        // Meanwhile members are removed or leave and come back, and ownership goes back and
        // forth, handed over and inherited: each writes a reader's member row.
        let (changer, ids) = (store.clone(), [m1.id, m2.id, m3.id]);
        let (o, h) = (owner.id, heir.id);
        tasks.push(tokio::spawn(async move {
            let store = changer;
            let changed = async {
                for round in 0..ROUNDS {
                    for (n, &member) in ids.iter().enumerate() {
                        let remover = if (round + n) % 2 == 0 { o } else { member };
                        done_or_err(store.remove_member(group, remover, member).await)?;
                        done_or_err(store.add_member(group, o, member, 10).await)?;
                    }
                    done_or_err(store.set_role(group, o, h, Owner).await)?;
                    done_or_err(store.set_role(group, h, o, Owner).await)?;
                    // The heir, now an admin, inherits; then hands back.
                    done_or_err(store.remove_member(group, o, o).await)?;
                    done_or_err(store.add_member(group, h, o, 10).await)?;
                    done_or_err(store.set_role(group, h, o, Owner).await)?;
                }
                Ok(())
            };
            let result = changed.await;
            stop.store(true, Ordering::Relaxed);
            result
        }));
        for result in join_all(tasks).await {
            result.must(b).must(b);
        }

        let history = whole(&store, group, owner).await;
        let last_seq = summary(&store, group, owner).await.0;
        assert_eq!(seqs(&history), (1..=last_seq).collect::<Vec<_>>(), "{b:?}");
        for user in &everyone {
            let got = stream(&store, user).await;
            let gapless = (1..=got.head).collect::<Vec<_>>();
            assert_eq!(positions(&got), gapless, "{b:?}: {}", user.username);
        }
        let now = roles(&store, group, owner).await;
        assert!(now.contains(&(owner.id, Owner)), "{b:?}: {now:?}");
        assert!(now.contains(&(heir.id, Admin)), "{b:?}: {now:?}");
    }
}

/// A group change's answer as a result: an error for a refusal too.
fn done_or_err<T: Debug>(result: Result<(Ruled<T>, Changes), StoreError>) -> Result<(), String> {
    match result {
        Ok((Ok(_), _)) => Ok(()),
        Ok((Err(refusal), _)) => Err(format!("refused: {refusal:?}")),
        Err(err) => Err(err.to_string()),
    }
}

#[tokio::test]
async fn a_keyed_group_creation_is_made_once_per_key() {
    use missive_store::GroupOutcome;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let make = |hash: &'static str| {
            let store = store.clone();
            async move {
                let key = crate::key("new-group", hash);
                store
                    .create_group_keyed(alice.id, "team", &[bob.id], Some(key))
                    .await
            }
        };

        let (first, made) = make("hash-a").await.must(b);
        let (again, replayed) = make("hash-a").await.must(b);
        let (other, refused) = make("hash-b").await.must(b);

        let GroupOutcome::Created(group) = first else {
            panic!("{b:?}: expected a new group, got {first:?}")
        };
        assert!(!made.is_empty(), "{b:?}");
        assert_eq!(again, GroupOutcome::Replayed(group.id), "{b:?}");
        assert_eq!(other, GroupOutcome::KeyReused, "{b:?}");
        assert!(
            replayed.is_empty() && refused.is_empty(),
            "{b:?}: nothing written"
        );
        assert_eq!(
            store.groups_of(alice.id).await.must(b),
            [group.id],
            "{b:?}: one group"
        );
        // The key's namespace is the user's: a send may not reuse it either.
        let send = store
            .send_message(group.id, alice.id, "hi", Some(crate::key("new-group", "x")))
            .await;
        assert!(
            matches!(send.must(b).0, missive_store::SendOutcome::KeyReused),
            "{b:?}"
        );
    }
}
