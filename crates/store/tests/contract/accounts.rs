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
async fn delete_user_removes_their_conversations_and_messages_only() {
    for db in TestDb::all().await {
        let (store, b) = (db.store(), db.backend());
        let [alice, bob, carol] = users(&store, ["alice", "bob", "carol"]).await;
        let to_bob = send(&store, &alice, &bob, "hi bob").await;
        let reply = send(&store, &bob, &alice, "hi alice").await;
        store.edit_message(to_bob.id, alice.id, "hi!").await.must(b);
        let kept = send_direct(&store, &bob, &carol, "hi carol").await;

        store.delete_user(alice.id).await.must(b);

        let gone = store.user_by_id(alice.id).await.must(b);
        assert_eq!(gone, None, "{b:?}: user gone");
        let convo = find(&store, alice.id, bob.id).await;
        assert_eq!(convo, None, "{b:?}: conversation gone");
        for gone in [&to_bob, &reply] {
            // Neither bob (its other member) nor anyone else reads it, nor its versions.
            for viewer in [&bob, &carol] {
                let found = versions(&store, gone.id, viewer).await;
                assert_eq!(found, None, "{b:?}: message {:?} gone", gone.content);
            }
        }
        let carols = store.messages_of_user(carol.id, 100, 0).await.must(b);
        assert_eq!(carols, std::slice::from_ref(&kept), "{b:?}: carol's kept");
        let bobs = store.messages_of_user(bob.id, 100, 0).await.must(b);
        assert_eq!(bobs, [kept], "{b:?}: bob keeps his other conversation only");
        let left = history(&store, &bob, &alice, 10, 0).await;
        assert_eq!(summary(&left), (vec![], 0), "{b:?}: no history left");
        assert_not_found(store.delete_user(alice.id).await, b);
        assert_not_found(store.delete_user(UserId(UNKNOWN)).await, b);
        let again = store.create_user(new_user("alice")).await;
        assert!(again.is_ok(), "{b:?}: name and e-mail free: {again:?}");
    }
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
