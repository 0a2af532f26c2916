//! Login sessions and their rotating refresh tokens.

use futures::future::join_all;
use missive_store::testing::TestDb;
use missive_store::{SessionId, UserId};
use std::time::Duration;

use missive_store::prelude::*;
use missive_store::{AccountChanges, RefreshOutcome, Session, SqlStore, Timestamp, User};

use crate::{Must, UNKNOWN, assert_not_found, tick, users};

const DAY: Duration = Duration::from_secs(86_400);

async fn session(store: &SqlStore, user: &User, refresh_hash: Option<&str>) -> Session {
    let until = Timestamp::now().plus(DAY);
    let opened = store.create_session(user.id, Some("agent/1.0"), refresh_hash, until);
    opened.await.must(store.backend()).0
}

async fn is_open(store: &SqlStore, session: &Session) -> bool {
    let found = store.session_user(session.id, session.user_id).await;
    found.must(store.backend()).is_some()
}

async fn rotate(store: &SqlStore, presented: &str, new: &str) -> RefreshOutcome {
    let until = Timestamp::now().plus(DAY);
    let outcome = store.rotate_refresh_token(presented, new, until).await;
    outcome.must(store.backend()).0
}

async fn open_ids(store: &SqlStore, user: &User) -> Vec<SessionId> {
    let open = store.list_sessions(user.id).await.must(store.backend());
    open.iter().map(|s| s.id).collect()
}

#[tokio::test]
async fn create_session_opens_a_session_that_names_its_user() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;

        let with_token = session(&store, &alice, Some("r1")).await;
        let until = Timestamp::now().plus(DAY);
        let without = store.create_session(alice.id, None, None, until).await;
        let without = without.must(b).0;

        assert_eq!(with_token.user_id, alice.id, "{b:?}");
        assert_eq!(with_token.user_agent.as_deref(), Some("agent/1.0"), "{b:?}");
        assert_eq!(with_token.created_at, with_token.last_used_at, "{b:?}");
        assert_eq!(
            (without.user_id, &without.user_agent),
            (alice.id, &None),
            "{b:?}"
        );
        assert_ne!(with_token.id, without.id, "{b:?}: ids are distinct");
        let found = store.session_user(with_token.id, alice.id).await.must(b);
        let found = found.must(b);
        assert_eq!(found.user, alice, "{b:?}: the session's user");
        assert_eq!(found.session_last_used_at, with_token.last_used_at, "{b:?}");
        assert!(
            is_open(&store, &without).await,
            "{b:?}: open without a token"
        );
        let rotated = rotate(&store, "r1", "r2").await;
        let ok = matches!(&rotated, RefreshOutcome::Rotated(s) if s.id == with_token.id);
        assert!(ok, "{b:?}: its first token works: {rotated:?}");
    }
}

#[tokio::test]
async fn session_user_is_none_for_another_user_or_an_unknown_session() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let alices = session(&store, &alice, None).await;

        let as_bob = store.session_user(alices.id, bob.id).await.must(b);
        let unknown = store
            .session_user(SessionId(UNKNOWN), alice.id)
            .await
            .must(b);

        assert!(as_bob.is_none(), "{b:?}: not bob's session: {as_bob:?}");
        assert!(unknown.is_none(), "{b:?}: no such session: {unknown:?}");
    }
}

#[tokio::test]
async fn touch_session_moves_last_used_forward() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        let opened = session(&store, &alice, None).await;
        tick().await;

        store.touch_session(opened.id).await.must(b);

        let found = store
            .session_user(opened.id, alice.id)
            .await
            .must(b)
            .must(b);
        assert!(found.session_last_used_at > opened.last_used_at, "{b:?}");
        let listed = store.list_sessions(alice.id).await.must(b);
        let used = (listed[0].created_at, listed[0].last_used_at);
        assert_eq!(
            used,
            (opened.created_at, found.session_last_used_at),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn rotating_a_refresh_token_spends_it_and_the_new_token_works() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        let opened = session(&store, &alice, Some("r1")).await;
        tick().await;

        let first = rotate(&store, "r1", "r2").await;
        let second = rotate(&store, "r2", "r3").await;

        let RefreshOutcome::Rotated(rotated) = first else {
            panic!("{b:?}: expected Rotated, got {first:?}");
        };
        assert!(
            rotated.last_used_at > opened.last_used_at,
            "{b:?}: used now"
        );
        let mut expected = opened.clone();
        expected.last_used_at = rotated.last_used_at;
        expected.expires_at = rotated.expires_at;
        assert_eq!(rotated, expected, "{b:?}: the same session");
        assert!(
            rotated.expires_at > opened.expires_at,
            "{b:?}: open for longer"
        );
        let ok = matches!(&second, RefreshOutcome::Rotated(s) if s.id == opened.id);
        assert!(ok, "{b:?}: the new token works: {second:?}");
        assert!(is_open(&store, &opened).await, "{b:?}: still open");
    }
}

#[tokio::test]
async fn presenting_a_spent_refresh_token_again_ends_its_session() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        let stolen = session(&store, &alice, Some("r1")).await;
        let other = session(&store, &alice, Some("o1")).await;
        rotate(&store, "r1", "r2").await;

        let replayed = rotate(&store, "r1", "thief").await;

        assert_eq!(replayed, RefreshOutcome::Reused, "{b:?}");
        assert!(!is_open(&store, &stolen).await, "{b:?}: session ended");
        let newest = rotate(&store, "r2", "r3").await;
        assert_eq!(newest, RefreshOutcome::Unknown, "{b:?}: newest token dead");
        let thiefs = rotate(&store, "thief", "t2").await;
        assert_eq!(thiefs, RefreshOutcome::Unknown, "{b:?}: never stored");
        assert_eq!(open_ids(&store, &alice).await, [other.id], "{b:?}");
        let unaffected = rotate(&store, "o1", "o2").await;
        let ok = matches!(unaffected, RefreshOutcome::Rotated(_));
        assert!(ok, "{b:?}: other sessions unaffected: {unaffected:?}");
    }
}

#[tokio::test]
async fn unknown_tokens_and_tokens_of_ended_sessions_are_unknown() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        let ended = session(&store, &alice, Some("t1")).await;
        rotate(&store, "t1", "t2").await;
        store.end_session(ended.id, alice.id).await.must(b);

        let never_issued = rotate(&store, "never-issued", "x1").await;
        let unspent = rotate(&store, "t2", "x2").await;
        let spent = rotate(&store, "t1", "x3").await;

        assert_eq!(never_issued, RefreshOutcome::Unknown, "{b:?}");
        assert_eq!(unspent, RefreshOutcome::Unknown, "{b:?}: session ended");
        assert_eq!(
            spent,
            RefreshOutcome::Unknown,
            "{b:?}: session ended before"
        );
        assert!(!is_open(&store, &ended).await, "{b:?}: stays ended");
        let still = rotate(&store, "t2", "x4").await;
        assert_eq!(
            still,
            RefreshOutcome::Unknown,
            "{b:?}: refusal spends nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_of_one_token_rotate_it_at_most_once() {
    const TASKS: usize = 12;
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        session(&store, &alice, Some("shared")).await;

        let tasks = (0..TASKS).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let new = format!("next-{i}");
                let until = Timestamp::now().plus(DAY);
                store.rotate_refresh_token("shared", &new, until).await
            })
        });
        let outcomes: Vec<RefreshOutcome> = join_all(tasks)
            .await
            .into_iter()
            .map(|joined| joined.must(b).must(b).0)
            .collect();

        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, RefreshOutcome::Rotated(_)));
        assert!(rotated.count() <= 1, "{b:?}: at most one: {outcomes:?}");
        let mut working = 0;
        for i in 0..TASKS {
            let next = rotate(&store, &format!("next-{i}"), &format!("then-{i}")).await;
            working += usize::from(matches!(next, RefreshOutcome::Rotated(_)));
        }
        assert!(working <= 1, "{b:?}: at most one new token works");
    }
}

#[tokio::test]
async fn end_session_ends_only_an_open_session_of_its_own_user() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let first = session(&store, &alice, None).await;
        let second = session(&store, &alice, None).await;
        let bobs = session(&store, &bob, None).await;

        assert_not_found(store.end_session(first.id, bob.id).await, b);
        assert!(is_open(&store, &first).await, "{b:?}: bob cannot end it");
        store.end_session(first.id, alice.id).await.must(b);

        assert!(!is_open(&store, &first).await, "{b:?}: ended");
        assert!(is_open(&store, &second).await, "{b:?}: her other one");
        assert!(is_open(&store, &bobs).await, "{b:?}: bob's");
        assert_not_found(store.end_session(first.id, alice.id).await, b);
        assert_not_found(store.end_session(SessionId(UNKNOWN), alice.id).await, b);
    }
}

#[tokio::test]
async fn end_other_sessions_keeps_one_or_none_and_counts_what_it_ended() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let mut opened = Vec::new();
        for _ in 0..3 {
            opened.push(session(&store, &alice, None).await);
        }
        let bobs = session(&store, &bob, None).await;
        let keep = opened[1].id;

        let others = store.end_other_sessions(alice.id, Some(keep)).await;
        let again = store.end_other_sessions(alice.id, Some(keep)).await;
        let remaining = open_ids(&store, &alice).await;
        let all = store.end_other_sessions(alice.id, None).await;

        assert_eq!(others.must(b).0, 2, "{b:?}: all but the kept one");
        assert_eq!(again.must(b).0, 0, "{b:?}: nothing left to end");
        assert_eq!(remaining, [keep], "{b:?}: the kept one stays open");
        assert_eq!(all.must(b).0, 1, "{b:?}: None ends the last one too");
        assert!(open_ids(&store, &alice).await.is_empty(), "{b:?}");
        assert!(is_open(&store, &bobs).await, "{b:?}: bob's untouched");
    }
}

#[tokio::test]
async fn list_sessions_shows_open_sessions_most_recently_used_first() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let mut opened = Vec::new();
        for _ in 0..3 {
            opened.push(session(&store, &alice, None).await);
            tick().await;
        }
        let [oldest, middle, newest] = [0, 1, 2].map(|i| opened[i].id);

        let before = open_ids(&store, &alice).await;
        store.touch_session(oldest).await.must(b);
        store.end_session(middle, alice.id).await.must(b);

        assert_eq!(before, [newest, middle, oldest], "{b:?}: newest first");
        assert_eq!(open_ids(&store, &alice).await, [oldest, newest], "{b:?}");
        assert!(
            open_ids(&store, &bob).await.is_empty(),
            "{b:?}: bob has none"
        );
        let listed = store.list_sessions(alice.id).await.must(b);
        assert_eq!(listed[1], opened[2], "{b:?}: listed as created");
    }
}

#[tokio::test]
async fn a_password_change_replaces_the_hash_and_ends_every_other_session() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        let other = session(&store, &alice, Some("old-device")).await;
        let current = session(&store, &alice, None).await;
        let bobs = session(&store, &bob, None).await;

        let change = AccountChanges {
            password: Some(("new-hash".into(), Some(current.id))),
            ..AccountChanges::default()
        };
        store.update_account(alice.id, change).await.must(b);

        let found = store
            .session_user(current.id, alice.id)
            .await
            .must(b)
            .must(b);
        assert_eq!(found.user.password_hash, "new-hash", "{b:?}: hash changed");
        assert!(!is_open(&store, &other).await, "{b:?}: other session ended");
        let stale = rotate(&store, "old-device", "x").await;
        assert_eq!(stale, RefreshOutcome::Unknown, "{b:?}: its token is dead");
        assert_eq!(open_ids(&store, &alice).await, [current.id], "{b:?}");
        let bob_now = store.user_by_id(bob.id).await.must(b).must(b);
        assert_eq!(
            bob_now.password_hash, bob.password_hash,
            "{b:?}: bob's kept"
        );
        assert!(is_open(&store, &bobs).await, "{b:?}: bob's session open");
        let change = AccountChanges {
            password: Some(("x".into(), Some(current.id))),
            ..AccountChanges::default()
        };
        assert_not_found(store.update_account(UserId(UNKNOWN), change).await, b);
    }
}

#[tokio::test]
async fn deleting_a_user_ends_their_sessions() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        let opened = session(&store, &alice, Some("d1")).await;

        store.delete_user(alice.id).await.must(b);

        assert!(!is_open(&store, &opened).await, "{b:?}: session gone");
        let outcome = rotate(&store, "d1", "d2").await;
        assert_eq!(outcome, RefreshOutcome::Unknown, "{b:?}: token gone");
        assert!(open_ids(&store, &alice).await.is_empty(), "{b:?}");
    }
}

#[tokio::test]
async fn an_expired_session_neither_authenticates_nor_lists_nor_refreshes() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        let past = Timestamp::now().minus(Duration::from_secs(1));
        let (expired, _) = store
            .create_session(alice.id, None, Some("stale"), past)
            .await
            .must(b);
        let open = session(&store, &alice, None).await;

        assert!(!is_open(&store, &expired).await, "{b:?}: expired is closed");
        assert_eq!(open_ids(&store, &alice).await, [open.id], "{b:?}");
        assert_eq!(
            rotate(&store, "stale", "fresh").await,
            RefreshOutcome::Unknown,
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn refreshing_keeps_the_session_open_for_another_period() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        let soon = Timestamp::now().plus(Duration::from_secs(60));
        let (opened, _) = store
            .create_session(alice.id, None, Some("r1"), soon)
            .await
            .must(b);

        let RefreshOutcome::Rotated(rotated) = rotate(&store, "r1", "r2").await else {
            panic!("{b:?}: an open session rotates");
        };

        assert_eq!(opened.expires_at, soon, "{b:?}");
        assert!(
            rotated.expires_at > Timestamp::now().plus(DAY / 2),
            "{b:?}: extended"
        );
    }
}

#[tokio::test]
async fn purging_deletes_only_sessions_that_ended_or_expired_before_the_cutoff() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        let long_ago = Timestamp::now().minus(DAY * 10);
        store
            .create_session(alice.id, None, Some("old"), long_ago)
            .await
            .must(b);
        let ended = session(&store, &alice, None).await;
        store.end_session(ended.id, alice.id).await.must(b);
        let open = session(&store, &alice, None).await;

        let purged = store
            .purge_sessions(Timestamp::now().minus(DAY))
            .await
            .must(b);
        let later = store
            .purge_sessions(Timestamp::now().plus(DAY * 2))
            .await
            .must(b);

        assert_eq!(purged, 1, "{b:?}: only the long-expired one");
        assert_eq!(
            later, 2,
            "{b:?}: then the ended and the (now past) open one"
        );
        assert!(!is_open(&store, &open).await, "{b:?}");
    }
}
