//! The use cases without HTTP, as an admin command or another face would call them: every
//! write is followed at once by the reads that depend on it, through the cache (in-process,
//! and Redis when `TEST_REDIS_URL` is set) and without it, on every backend. What each write
//! retires is decided from the store's reported changes in one place (`Core::after_commit`);
//! these tests fail if a change is missed or misread there.

use missive::config::Config;
use missive::core::domain::{Email, MessageContent, Password, Username};
use missive::core::{Core, CoreError, LoginName, NewAccount, NewSession, Refresh, SendRequest};
use missive_store::testing::TestDb;
use missive_store::{ConversationId, DirectMessage, User};

use crate::cache::{Cached, cached_apps};
use crate::helpers::{PASSWORD, TestApp, test_config};

/// Every cached app, and one per backend with the cache off.
async fn cores() -> Vec<Cached> {
    let mut apps = cached_apps().await;
    for db in TestDb::all().await {
        let app = TestApp::start(db, |db| Config {
            cache: false,
            ..test_config(db)
        })
        .await;
        apps.push(Cached { app, redis: None });
    }
    apps
}

async fn user(core: &Core, name: &str) -> User {
    let account = NewAccount {
        username: Some(Username::parse(name).unwrap()),
        email: Email::parse(&format!("{name}@example.com")).unwrap(),
        password: Password::parse(PASSWORD).unwrap(),
        full_name: None,
    };
    core.register(account).await.unwrap()
}

fn text(content: &str) -> MessageContent {
    MessageContent::parse(content.into(), 2000).unwrap()
}

/// The Chat Service's cached history page between `viewer` and `peer`, as contents.
async fn page(core: &Core, viewer: &User, peer: &User) -> Vec<String> {
    let page = core
        .direct_history(viewer.id, peer.id, 10, 0)
        .await
        .unwrap();
    let contents = page.items.iter().map(|m| m.message.content.clone());
    contents.collect()
}

#[tokio::test]
async fn every_message_write_shows_in_the_next_cached_page() {
    for cached in cores().await {
        let (core, label) = (&cached.app.core, cached.label());
        let alice = user(core, "alice").await;
        let bob = user(core, "bob").await;
        assert!(page(core, &bob, &alice).await.is_empty(), "{label}");

        let sent: DirectMessage = core
            .send_direct(alice.id, bob.id, &text("one"))
            .await
            .unwrap();
        assert_eq!(sent.recipient_id, bob.id, "{label}");
        assert_eq!(page(core, &bob, &alice).await, ["one"], "{label}");

        let edited = core
            .edit_direct_message(sent.message.id, alice.id, &text("one, edited"))
            .await
            .unwrap();
        assert_eq!(edited.recipient_id, bob.id, "{label}");
        assert_eq!(page(core, &bob, &alice).await, ["one, edited"], "{label}");

        core.hide_message(sent.message.id, bob.id).await.unwrap();
        assert!(page(core, &bob, &alice).await.is_empty(), "{label}");
        assert_eq!(page(core, &alice, &bob).await, ["one, edited"], "{label}");

        core.delete_message(sent.message.id, alice.id)
            .await
            .unwrap();
        assert!(page(core, &alice, &bob).await.is_empty(), "{label}");

        // The /v1 send into the same conversation is seen by the face's cached page too.
        let request = SendRequest {
            conversation: sent.message.conversation_id,
            sender: bob.id,
            content: &text("two"),
            idempotency_key: Some("k-1"),
        };
        let (first, replayed) = core.send(request).await.unwrap();
        assert!(!replayed, "{label}");
        assert_eq!(page(core, &alice, &bob).await, ["two"], "{label}");
        let again = SendRequest {
            conversation: sent.message.conversation_id,
            sender: bob.id,
            content: &text("two"),
            idempotency_key: Some("k-1"),
        };
        assert_eq!(core.send(again).await.unwrap(), (first, true), "{label}");
    }
}

#[tokio::test]
async fn authorization_is_the_stores_whichever_caller_asks() {
    for cached in cores().await {
        let (core, label) = (&cached.app.core, cached.label());
        let alice = user(core, "alice").await;
        let bob = user(core, "bob").await;
        let eve = user(core, "eve").await;
        let sent = core
            .send_direct(alice.id, bob.id, &text("hi"))
            .await
            .unwrap();
        let id = sent.message.id;
        let conversation: ConversationId = sent.message.conversation_id;

        let outsider = [
            core.edit_message(id, eve.id, "x".into()).await.err(),
            core.delete_message(id, eve.id).await.err(),
            core.hide_message(id, eve.id).await.err(),
            core.message_versions(id, eve.id).await.err(),
            core.conversation(conversation, eve.id).await.err(),
            core.mark_read(conversation, eve.id, 1).await.err(),
        ];
        assert!(
            outsider.iter().all(|err| *err == Some(CoreError::NotFound)),
            "{label}: {outsider:?}"
        );
        let window = missive_store::HistoryWindow::Latest;
        let history = core.history(conversation, eve.id, window, 10).await;
        assert_eq!(history.err(), Some(CoreError::NotFound), "{label}");

        let by_peer = core.edit_message(id, bob.id, "mine now".into()).await;
        assert_eq!(by_peer.err(), Some(CoreError::NotSender), "{label}");
        core.delete_message(id, alice.id).await.unwrap();
        let after_delete = core.edit_message(id, alice.id, "back".into()).await;
        let unseen_and_empty = core.edit_message(id, eve.id, String::new()).await;
        assert_eq!(unseen_and_empty.err(), Some(CoreError::NotFound), "{label}");
        let seen_and_empty = core.edit_message(id, bob.id, String::new()).await;
        assert!(
            matches!(seen_and_empty, Err(CoreError::Invalid(_))),
            "{label}"
        );
        assert_eq!(
            after_delete.err(),
            Some(CoreError::MessageDeleted),
            "{label}"
        );
    }
}

#[tokio::test]
async fn account_and_session_writes_reach_the_cached_token_check_and_user_at_once() {
    for cached in cores().await {
        let (core, label) = (&cached.app.core, cached.label());
        let alice = user(core, "alice").await;
        let session = NewSession {
            user_agent: None,
            refresh: Refresh::With,
        };
        let (logged_in, opened) = core
            .log_in(LoginName::Username("alice"), PASSWORD, session)
            .await
            .unwrap();
        assert_eq!(logged_in.id, alice.id, "{label}");
        let subject = core.tokens().verify(&opened.access.token).unwrap();
        // Twice: the second check is answered from the cache when there is one.
        for _ in 0..2 {
            let caller = core.authenticate(subject).await.unwrap();
            assert_eq!(caller.user.id, alice.id, "{label}");
        }
        assert_eq!(core.user(alice.id).await.unwrap().full_name, None);

        let renamed = core
            .update_account(
                &alice,
                opened.session_id,
                Some(Some("Alice L.".into())),
                None,
            )
            .await
            .unwrap();
        assert_eq!(renamed.full_name.as_deref(), Some("Alice L."), "{label}");
        let seen = core.user(alice.id).await.unwrap();
        assert_eq!(seen.full_name.as_deref(), Some("Alice L."), "{label}");
        let caller = core.authenticate(subject).await.unwrap();
        assert_eq!(
            caller.user.full_name.as_deref(),
            Some("Alice L."),
            "{label}"
        );

        core.end_all_sessions(alice.id).await.unwrap();
        let ended = core.authenticate(subject).await;
        assert_eq!(ended.err(), Some(CoreError::InvalidToken), "{label}");

        let refresh = opened.refresh_token.unwrap();
        let refused = core.refresh_session(&refresh).await;
        assert_eq!(
            refused.err(),
            Some(CoreError::InvalidRefreshToken),
            "{label}"
        );

        core.delete_user(alice.id).await.unwrap();
        assert_eq!(
            core.user(alice.id).await.err(),
            Some(CoreError::NotFound),
            "{label}"
        );
        let session = NewSession {
            user_agent: None,
            refresh: Refresh::Without,
        };
        let wrong = core
            .log_in(LoginName::Username("alice"), PASSWORD, session)
            .await;
        assert_eq!(wrong.err(), Some(CoreError::InvalidCredentials), "{label}");
    }
}
