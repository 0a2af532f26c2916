//! The store's contract: every method of the store's traits, run on SQLite always and on
//! PostgreSQL when `TEST_DATABASE_URL` is set. Each test gets fresh databases from
//! `TestDb::all()`, so tests never see each other's rows. This file holds the helpers; each
//! module covers one area.

mod accounts;
mod authorization;
mod cancellation;
mod changes;
mod conversations;
mod deletion;
mod events;
mod faults;
mod groups;
mod history;
mod idempotency;
mod messages;
mod model;
mod read_state;
mod sessions;
mod sqlite_files;

use std::fmt::{Debug, Display};
use std::time::Duration;

use missive_store::prelude::*;
use missive_store::{AccountChanges, Altered, DirectMessage, Page, ReadState, SendOutcome};
use missive_store::{
    Backend, Conversation, ConversationId, HistoryWindow, Message, MessageId, MessageWindow,
    NewUser, SqlStore, StoreError, Timestamp, User, UserId,
};

/// An id no test ever creates.
const UNKNOWN: i64 = 9_999_999;

/// Unwraps a result or option; the panic names the backend (and, via `track_caller`, the line).
trait Must<T> {
    fn must(self, backend: Backend) -> T;
}

impl<T, E: Display> Must<T> for Result<T, E> {
    #[track_caller]
    fn must(self, backend: Backend) -> T {
        self.unwrap_or_else(|err| panic!("{backend:?}: unexpected error: {err}"))
    }
}

impl<T> Must<T> for Option<T> {
    #[track_caller]
    fn must(self, backend: Backend) -> T {
        self.unwrap_or_else(|| panic!("{backend:?}: expected a value, found None"))
    }
}

#[track_caller]
fn assert_not_found<T: Debug>(result: Result<T, StoreError>, b: Backend) {
    let ok = matches!(result, Err(StoreError::NotFound));
    assert!(ok, "{b:?}: expected NotFound, got {result:?}");
}

/// Lets the clock move on, so the next timestamp is strictly later than the last one.
/// An idempotency key that has not expired (no key was first used before the epoch).
fn key<'a>(key: &'a str, request_hash: &'a str) -> missive_store::Idempotency<'a> {
    missive_store::Idempotency {
        key,
        request_hash,
        expires_before: Timestamp(0),
    }
}

async fn tick() {
    tokio::time::sleep(Duration::from_millis(2)).await;
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_owned(),
        email: format!("{name}@example.test"),
        full_name: Some(format!("{name} Example")),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
    }
}

async fn users<const N: usize>(store: &SqlStore, names: [&str; N]) -> [User; N] {
    let mut created = Vec::with_capacity(N);
    for name in names {
        let user = store.create_user(new_user(name)).await;
        created.push(user.must(store.backend()).0);
    }
    created.try_into().expect("one user per name")
}

/// Sends as the compatibility faces do; the message as the faces show it, with its recipient.
async fn send_direct(store: &SqlStore, from: &User, to: &User, content: &str) -> DirectMessage {
    let sent = store.send_direct_message(from.id, to.id, content).await;
    sent.must(store.backend()).0
}

/// Sends as the compatibility faces do; the message alone.
async fn send(store: &SqlStore, from: &User, to: &User, content: &str) -> Message {
    send_direct(store, from, to, content).await.message
}

/// Sends into a conversation without an idempotency key; the send must create a message.
async fn post(
    store: &SqlStore,
    conversation: ConversationId,
    from: &User,
    content: &str,
) -> Message {
    let b = store.backend();
    let sent = store
        .send_message(conversation, from.id, content, None)
        .await;
    match sent.must(b).0 {
        SendOutcome::Created(message) => message,
        other => panic!("{b:?}: expected Created, got {other:?}"),
    }
}

/// Sends `n` messages into a conversation, alternating between `a` and `b` (`a` first).
async fn post_many(store: &SqlStore, conversation: ConversationId, a: &User, b: &User, n: usize) {
    for i in 0..n {
        let from = [a, b][i % 2];
        post(store, conversation, from, &format!("m{}", i + 1)).await;
    }
}

async fn open(store: &SqlStore, a: &User, b: &User) -> Conversation {
    let opened = store.open_direct_conversation(a.id, b.id).await;
    opened.must(store.backend()).0.0
}

async fn find(store: &SqlStore, a: UserId, b: UserId) -> Option<Conversation> {
    store.direct_conversation(a, b).await.must(store.backend())
}

/// The conversation's `last_seq` as stored.
async fn last_seq(store: &SqlStore, a: &User, b: &User) -> i64 {
    find(store, a.id, b.id).await.must(store.backend()).last_seq
}

async fn history(
    store: &SqlStore,
    a: &User,
    b: &User,
    limit: i64,
    offset: i64,
) -> Page<DirectMessage> {
    let page = store.direct_history(a.id, b.id, limit, offset).await;
    page.must(store.backend())
}

async fn of_user(store: &SqlStore, user: UserId, limit: i64, offset: i64) -> Vec<String> {
    let listed = store.messages_of_user(user, limit, offset).await;
    let messages = listed.must(store.backend());
    messages.into_iter().map(|m| m.message.content).collect()
}

/// A message and its earlier contents as member `viewer` reads them (`None` for others).
async fn versions(
    store: &SqlStore,
    id: MessageId,
    viewer: &User,
) -> Option<(Message, Vec<(String, Timestamp)>)> {
    let read = store.message_versions(id, viewer.id).await;
    read.must(store.backend())
}

/// A message as member `viewer` reads it now (`None` for others).
async fn stored(store: &SqlStore, id: MessageId, viewer: &User) -> Option<Message> {
    versions(store, id, viewer)
        .await
        .map(|(message, _)| message)
}

/// The message an edit or delete answered, which must have been done.
#[track_caller]
fn done(altered: Altered, b: Backend) -> Message {
    match altered {
        Altered::Done(message) => message,
        other => panic!("{b:?}: expected Done, got {other:?}"),
    }
}

async fn window(
    store: &SqlStore,
    conversation: ConversationId,
    viewer: &User,
    window: HistoryWindow,
    limit: i64,
) -> MessageWindow {
    let read = store.conversation_messages(conversation, viewer.id, window, limit);
    read.await.must(store.backend())
}

async fn read_state(store: &SqlStore, conversation: ConversationId, user: &User) -> ReadState {
    let state = store.read_state(conversation, user.id).await;
    state.must(store.backend())
}

/// A message, whether read alone or as the faces show it (with its recipient).
trait AsMessage {
    fn message(&self) -> &Message;
}

impl AsMessage for Message {
    fn message(&self) -> &Message {
        self
    }
}

impl AsMessage for DirectMessage {
    fn message(&self) -> &Message {
        &self.message
    }
}

fn seqs(messages: &[impl AsMessage]) -> Vec<i64> {
    messages.iter().map(|m| m.message().seq).collect()
}

fn contents(messages: &[impl AsMessage]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m.message().content.as_str())
        .collect()
}

/// A page's contents and total, for compact comparisons.
fn summary(page: &Page<DirectMessage>) -> (Vec<&str>, i64) {
    (contents(&page.items), page.total)
}

/// A window's seqs and whether there is more, for compact comparisons.
fn span(window: &MessageWindow) -> (Vec<i64>, bool) {
    (seqs(&window.messages), window.has_more)
}

/// Sets or clears a user's display name.
pub async fn set_name(
    store: &SqlStore,
    id: UserId,
    full_name: Option<&str>,
) -> Result<User, StoreError> {
    let change = AccountChanges {
        full_name: Some(full_name.map(str::to_owned)),
        ..AccountChanges::default()
    };
    store.update_account(id, change).await.map(|(user, _)| user)
}
