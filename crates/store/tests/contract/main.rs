//! The store's contract: every `Store` method, run on SQLite always and on PostgreSQL when
//! `TEST_DATABASE_URL` is set. Each test gets fresh databases from `TestDb::all()`, so tests
//! never see each other's rows. This file holds the helpers; each module covers one area.

mod accounts;
mod cancellation;
mod conversations;
mod deletion;
mod history;
mod idempotency;
mod messages;
mod model;
mod read_state;
mod sessions;
mod sqlite_files;

use std::fmt::{Debug, Display};
use std::time::Duration;

use missive_store::{
    AccountChanges, Page, ReadState, SendOutcome, SqlStore, Store, StoreError, User,
};
use missive_store::{
    Backend, Conversation, ConversationId, HistoryWindow, Message, MessageWindow, NewUser, UserId,
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
        created.push(user.must(store.backend()));
    }
    created.try_into().expect("one user per name")
}

async fn send(store: &SqlStore, from: &User, to: &User, content: &str) -> Message {
    let sent = store.send_direct_message(from.id, to.id, content).await;
    sent.must(store.backend())
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
    match sent.must(b) {
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
    opened.must(store.backend()).0
}

async fn find(store: &SqlStore, a: UserId, b: UserId) -> Option<Conversation> {
    store.direct_conversation(a, b).await.must(store.backend())
}

/// The conversation's `last_seq` as stored.
async fn last_seq(store: &SqlStore, a: &User, b: &User) -> i64 {
    find(store, a.id, b.id).await.must(store.backend()).last_seq
}

async fn history(store: &SqlStore, a: &User, b: &User, limit: i64, offset: i64) -> Page<Message> {
    let page = store.direct_history(a.id, b.id, limit, offset).await;
    page.must(store.backend())
}

async fn of_user(store: &SqlStore, user: UserId, limit: i64, offset: i64) -> Vec<String> {
    let listed = store.messages_of_user(user, limit, offset).await;
    let messages = listed.must(store.backend());
    messages.into_iter().map(|m| m.content).collect()
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

fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

fn contents(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

/// A page's contents and total, for compact comparisons.
fn summary(page: &Page<Message>) -> (Vec<&str>, i64) {
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
    store.update_account(id, change).await
}
