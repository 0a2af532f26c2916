//! Accounts: creating, finding, touching, naming, searching and deleting users.

use missive_store::UserId;
use missive_store::prelude::*;
use missive_store::testing::TestDb;
use missive_store::{AccountChanges, ConflictKind, StoreError, User};

use crate::{
    Must, UNKNOWN, assert_not_found, find, history, new_user, send, send_direct, set_name, summary,
    users, versions,
};

#[tokio::test]
async fn ping_succeeds_on_a_fresh_database() {
    for db in TestDb::all().await {
        db.store().ping().await.must(db.backend());
    }
}

#[tokio::test]
async fn created_user_is_found_by_id_email_and_username_ignoring_case() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["Alice"]).await;
        let mut anonymous = new_user("nobody");
        anonymous.full_name = None;

        let (nobody, _) = store.create_user(anonymous).await.must(b);
        let by_id = store.user_by_id(alice.id).await.must(b);
        let by_email = store.user_by_email("ALICE@EXAMPLE.TEST").await.must(b);
        let by_name = store.user_by_username("aLiCe").await.must(b);

        let given = (alice.username.as_str(), alice.email.as_str());
        assert_eq!(given, ("Alice", "Alice@example.test"), "{b:?}");
        assert_eq!(alice.full_name.as_deref(), Some("Alice Example"), "{b:?}");
        assert_eq!(alice.created_at, alice.last_active_at, "{b:?}");
        assert_ne!(alice.id, nobody.id, "{b:?}: ids are distinct");
        let found = [by_id, by_email, by_name];
        let all_alice = found.iter().all(|u| u.as_ref() == Some(&alice));
        assert!(all_alice, "{b:?}: lookups ignore case: {found:?}");
        let stored = store.user_by_id(nobody.id).await.must(b);
        assert_eq!(stored.must(b).full_name, None, "{b:?}: no full name");
        assert_eq!(
            store.user_by_id(UserId(UNKNOWN)).await.must(b),
            None,
            "{b:?}"
        );
        assert_eq!(store.user_by_email("x@y.test").await.must(b), None, "{b:?}");
        assert_eq!(store.user_by_username("ghost").await.must(b), None, "{b:?}");
    }
}

#[tokio::test]
async fn create_user_reports_which_field_is_taken_ignoring_case() {
    use ConflictKind::{Email, Username};
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        users(&store, ["alice"]).await;
        let mut same_name = new_user("ALICE");
        same_name.email = "other@example.test".into();
        let mut same_email = new_user("alicia");
        same_email.email = "Alice@Example.TEST".into();

        let conflicts = [
            (store.create_user(same_name).await, Username),
            (store.create_user(same_email).await, Email),
            // Both taken: the username is reported.
            (store.create_user(new_user("Alice")).await, Username),
        ];

        for (result, expected) in conflicts {
            let ok = matches!(result, Err(StoreError::Conflict(kind)) if kind == expected);
            assert!(ok, "{b:?}: expected Conflict({expected:?}), got {result:?}");
        }
        let stray = store.user_by_username("alicia").await.must(b);
        assert_eq!(stray, None, "{b:?}: a conflict creates nothing");
        let fresh = store.create_user(new_user("bob")).await;
        assert!(fresh.is_ok(), "{b:?}: usable after conflicts: {fresh:?}");
    }
}

#[tokio::test]
async fn touch_user_moves_last_active_forward_and_rejects_unknown_ids() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;

        let (at, _) = store.touch_user(alice.id).await.must(b);

        let touched = store.user_by_id(alice.id).await.must(b).must(b);
        assert!(touched.last_active_at > alice.last_active_at, "{b:?}");
        assert_eq!(
            touched.last_active_at, at,
            "{b:?}: the time returned is the one stored"
        );
        assert_eq!(touched.created_at, alice.created_at, "{b:?}");
        assert_not_found(store.touch_user(UserId(UNKNOWN)).await, b);
    }
}

#[tokio::test]
async fn a_deleted_account_is_anonymised_and_what_it_sent_stays_with_its_receivers() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let to_bob = send(&store, &alice, &bob, "hi bob").await;
        let reply = send(&store, &bob, &alice, "hi alice").await;
        store.edit_message(to_bob.id, alice.id, "hi!").await.must(b);
        let kept = send_direct(&store, &bob, &carol, "hi carol").await;
        let (session, _) = store
            .create_session(alice.id, None, Some("hash"), far_future())
            .await
            .must(b);

        let deleted = store.delete_user(alice.id).await.must(b);
        assert!(deleted.is_some(), "{b:?}: deleted");

        assert_eq!(store.user_by_id(alice.id).await.must(b), None, "{b:?}");
        let by_email = store.user_by_email("alice@example.test").await.must(b);
        assert_eq!(by_email, None, "{b:?}");
        assert_eq!(store.user_by_username("alice").await.must(b), None, "{b:?}");
        let found = store.search_users("", 100).await.must(b);
        assert!(
            !found.iter().any(|u| u.id == alice.id),
            "{b:?}: not searchable"
        );
        let gone = store.session_user(session.id, alice.id).await.must(b);
        assert!(gone.is_none(), "{b:?}: sessions gone");
        // Bob keeps the conversation, both messages and the edit history.
        let convo = find(&store, alice.id, bob.id).await.must(b);
        let (now, earlier) = versions(&store, to_bob.id, &bob).await.must(b);
        assert_eq!((now.content.as_str(), earlier.len()), ("hi!", 1), "{b:?}");
        let left = history(&store, &bob, &alice, 10, 0).await;
        assert_eq!(summary(&left), (vec!["hi alice", "hi!"], 2), "{b:?}");
        let bobs = store.messages_of_user(bob.id, 100, 0).await.must(b);
        assert_eq!(bobs.len(), 3, "{b:?}: {bobs:?}");
        assert_eq!(bobs[2], kept, "{b:?}");
        let seen = store
            .conversation_summary(convo.id, bob.id)
            .await
            .must(b)
            .must(b);
        let peer = seen.peer.must(b);
        assert_eq!(peer.username, format!("deleted:{}", alice.id.0), "{b:?}");
        assert!(seen.closed, "{b:?}: closed");
        // ... which takes no new messages, and no new conversation opens with alice.
        let refused = store.send_message(convo.id, bob.id, "hello?", None).await;
        assert!(
            matches!(refused, Err(StoreError::Closed)),
            "{b:?}: {refused:?}"
        );
        assert_not_found(store.send_direct_message(bob.id, alice.id, "x").await, b);
        assert_not_found(store.open_direct_conversation(carol.id, alice.id).await, b);
        assert_eq!(find(&store, carol.id, alice.id).await, None, "{b:?}");
        let _ = reply;

        assert_not_found(store.delete_user(alice.id).await, b);
        assert_not_found(store.delete_user(UserId(UNKNOWN)).await, b);
        let again = store.create_user(new_user("alice")).await;
        assert!(again.is_ok(), "{b:?}: name and e-mail free: {again:?}");
    }
}

#[tokio::test]
async fn an_account_in_a_group_is_not_deleted() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob] = users(&store, ["alice", "bob"]).await;
        store
            .create_group(alice.id, "team", &[bob.id])
            .await
            .must(b);

        let refused = store.delete_user(bob.id).await.must(b);

        assert!(
            refused.is_none(),
            "{b:?}: the caller leaves the group first"
        );
        assert!(
            store.user_by_id(bob.id).await.must(b).is_some(),
            "{b:?}: untouched"
        );
    }
}

#[tokio::test]
async fn a_disabled_account_cannot_log_in_and_its_sessions_end() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;
        let (session, _) = store
            .create_session(alice.id, None, Some("hash"), far_future())
            .await
            .must(b);

        let changes = store.set_disabled(alice.id, true).await.must(b);

        assert!(!changes.is_empty(), "{b:?}");
        let login = store.login_by_email("alice@example.test").await.must(b);
        assert_eq!(login, None, "{b:?}");
        assert_eq!(
            store.login_by_username("ALICE").await.must(b),
            None,
            "{b:?}"
        );
        let ended = store.session_user(session.id, alice.id).await.must(b);
        assert!(ended.is_none(), "{b:?}: session ended");
        let shown = store.account(alice.id).await.must(b).must(b);
        let since = shown.disabled_at.must(b);
        // A login whose password check overlapped the disable opens no session.
        let late = store
            .create_session(alice.id, None, None, far_future())
            .await;
        assert_not_found(late, b);
        store.set_disabled(alice.id, true).await.must(b);
        let again = store.account(alice.id).await.must(b).must(b);
        assert_eq!(
            again.disabled_at,
            Some(since),
            "{b:?}: disabled since the first time"
        );
        // Still a user others can see and talk about; only logging in is refused.
        assert!(store.user_by_id(alice.id).await.must(b).is_some(), "{b:?}");

        store.set_disabled(alice.id, false).await.must(b);
        let login = store.login_by_username("alice").await.must(b);
        assert_eq!(login.map(|u| u.id), Some(alice.id), "{b:?}");
        let shown = store.account(alice.id).await.must(b).must(b);
        assert_eq!(shown.disabled_at, None, "{b:?}");
        assert_not_found(store.set_disabled(UserId(UNKNOWN), true).await, b);
    }
}

#[tokio::test]
async fn accounts_are_listed_in_id_order_without_deleted_ones() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        store.delete_user(bob.id).await.must(b).must(b);

        let all = store.accounts(UserId(0), 10).await.must(b);
        let ids: Vec<UserId> = all.iter().map(|a| a.user.id).collect();
        assert_eq!(ids, [alice.id, carol.id], "{b:?}");
        let after = store.accounts(alice.id, 1).await.must(b);
        assert_eq!(after.len(), 1, "{b:?}");
        assert_eq!(after[0].user.id, carol.id, "{b:?}");
        assert_eq!(
            store.account(bob.id).await.must(b).map(|a| a.user.id),
            None,
            "{b:?}"
        );
    }
}

fn far_future() -> missive_store::Timestamp {
    missive_store::Timestamp::now().plus(std::time::Duration::from_secs(3600))
}

fn usernames(found: Vec<User>) -> Vec<String> {
    found.into_iter().map(|u| u.username).collect()
}

#[tokio::test]
async fn a_name_change_sets_and_clears_the_display_name_only() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;

        let named = set_name(&store, alice.id, Some("Alice Liddell"))
            .await
            .must(b);
        let cleared = set_name(&store, alice.id, None).await.must(b);
        let unknown = set_name(&store, UserId(UNKNOWN), Some("Ghost")).await;

        let mut expected = alice.clone();
        expected.full_name = Some("Alice Liddell".into());
        assert_eq!(named, expected, "{b:?}: only the full name changes");
        expected.full_name = None;
        assert_eq!(cleared, expected, "{b:?}: None clears it");
        let stored = store.user_by_id(alice.id).await.must(b);
        assert_eq!(stored, Some(cleared), "{b:?}: stored as returned");
        assert_not_found(unknown, b);
    }
}

#[tokio::test]
async fn search_users_matches_username_prefixes_ignoring_case_in_username_order() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        users(&store, ["bob", "Alicia", "alice", "ALBERT", "malice"]).await;

        let found = store.search_users("AL", 10).await.must(b);
        let limited = store.search_users("al", 2).await.must(b);
        let exact = store.search_users("aLiCe", 10).await.must(b);
        let everyone = store.search_users("", 10).await.must(b);
        let nobody = store.search_users("zed", 10).await.must(b);

        let prefixed = ["ALBERT", "alice", "Alicia"];
        assert_eq!(usernames(found), prefixed, "{b:?}: prefix only, any case");
        assert_eq!(usernames(limited), ["ALBERT", "alice"], "{b:?}: limit");
        assert_eq!(usernames(exact), ["alice"], "{b:?}: a whole name");
        let all = ["ALBERT", "alice", "Alicia", "bob", "malice"];
        assert_eq!(usernames(everyone), all, "{b:?}: empty prefix");
        assert!(nobody.is_empty(), "{b:?}: no match: {nobody:?}");
    }
}

#[tokio::test]
async fn search_users_takes_like_wildcards_and_backslashes_literally() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let names = ["50%off", "500", "x_y", "xzy", r"back\slash", "backslash"];
        users(&store, names).await;

        let cases = [
            ("50%", vec!["50%off"]),
            ("x_", vec!["x_y"]),
            (r"back\", vec![r"back\slash"]),
            ("%", vec![]),
            ("_", vec![]),
            (r"\", vec![]),
            ("x", vec!["x_y", "xzy"]),
        ];

        for (prefix, expected) in cases {
            let found = store.search_users(prefix, 10).await.must(b);
            assert_eq!(usernames(found), expected, "{b:?}: prefix {prefix:?}");
        }
    }
}

#[tokio::test]
async fn an_empty_account_change_changes_nothing() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice] = users(&store, ["alice"]).await;

        let unchanged = store
            .update_account(alice.id, AccountChanges::default())
            .await;

        assert_eq!(unchanged.must(b).0, alice, "{b:?}");
        let stored = store.user_by_id(alice.id).await.must(b);
        assert_eq!(stored, Some(alice), "{b:?}: stored unchanged");
    }
}
