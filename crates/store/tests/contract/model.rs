//! A randomized model test: after any mix of sends, edits, deletes, hides and read marks, both
//! members' read states match a model kept here, and each operation answered and reported
//! changes as the model predicts. The generator is seeded, so a failure names the operation
//! that broke it and replays the same way every run.

use missive_store::prelude::*;
use missive_store::{Altered, Changes, ConversationId, MessageId};

use missive_store::testing::TestDb;
use missive_store::{Backend, HistoryWindow, ReadState, SqlStore, StoreError, User};

use crate::{Must, open, post, seqs, users, window};

/// xorshift64: tiny, deterministic, and good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// What the model knows of one message; members are 0 and 1.
struct Sent {
    id: MessageId,
    seq: i64,
    sender: usize,
    deleted: bool,
    hidden: [bool; 2],
}

#[derive(Default)]
struct Model {
    messages: Vec<Sent>,
    last_read: [i64; 2],
}

impl Model {
    fn last_seq(&self) -> i64 {
        self.messages.len() as i64
    }

    fn read_state(&self, user: usize) -> ReadState {
        let last_read_seq = self.last_read[user];
        let unread = self
            .messages
            .iter()
            .filter(|m| m.seq > last_read_seq && m.sender != user && !m.deleted && !m.hidden[user]);
        let unread_count = unread.count() as i64;
        ReadState {
            last_read_seq,
            unread_count,
        }
    }

    fn visible_to(&self, user: usize) -> Vec<i64> {
        let visible = self.messages.iter().filter(|m| !m.hidden[user]);
        visible.map(|m| m.seq).collect()
    }
}

/// What an edit or a delete answered a member, without the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Done,
    NotSender,
    Deleted,
}

/// Checks a sender-only operation's answer and how many changes it reported.
#[track_caller]
fn check_altered(
    result: Result<(Altered, Changes), StoreError>,
    expected: (Answer, usize),
    b: Backend,
    op: &str,
) {
    let (altered, changes) = result.unwrap_or_else(|err| panic!("{b:?}: {op}: {err}"));
    let answer = match altered {
        Altered::Done(_) => Answer::Done,
        Altered::NotSender => Answer::NotSender,
        Altered::Deleted => Answer::Deleted,
        Altered::Notice => panic!("{b:?}: {op}: a direct conversation has no notices"),
    };
    let actual = (answer, changes.len());
    assert_eq!(actual, expected, "{b:?}: {op}: {changes:?}");
}

/// Applies one random operation to the store and the model; returns what it did.
async fn step(
    store: &SqlStore,
    convo: ConversationId,
    members: &[User; 2],
    model: &mut Model,
    rng: &mut Rng,
) -> String {
    let b = store.backend();
    let actor = rng.below(2);
    let id = members[actor].id;
    let picked = (!model.messages.is_empty()).then(|| rng.below(model.messages.len()));
    match (rng.below(6), picked) {
        (2, Some(i)) => {
            let op = format!("{actor} edits seq {}", model.messages[i].seq);
            let message = &model.messages[i];
            let expected = if message.sender != actor {
                (Answer::NotSender, 0)
            } else if message.deleted {
                (Answer::Deleted, 0)
            } else {
                (Answer::Done, 1)
            };
            let edited = store.edit_message(message.id, id, "edited").await;
            check_altered(edited, expected, b, &op);
            op
        }
        (3, Some(i)) => {
            let op = format!("{actor} deletes seq {}", model.messages[i].seq);
            let message = &mut model.messages[i];
            let expected = if message.sender != actor {
                (Answer::NotSender, 0)
            } else {
                // Deleting a tombstone again answers it and changes nothing.
                (Answer::Done, usize::from(!message.deleted))
            };
            check_altered(store.delete_message(message.id, id).await, expected, b, &op);
            message.deleted |= message.sender == actor;
            op
        }
        (4, Some(i)) => {
            let message = &mut model.messages[i];
            let op = format!("{actor} hides seq {}", message.seq);
            let changes = store.hide_message(message.id, id).await.must(b);
            let expected = usize::from(!message.hidden[actor]);
            assert_eq!(changes.len(), expected, "{b:?}: {op}: {changes:?}");
            message.hidden[actor] = true;
            op
        }
        (5, _) => {
            let seq = rng.below(model.messages.len() + 3) as i64 - 1;
            let (marked, changes) = store.mark_read(convo, id, seq).await.must(b);
            let reachable = seq.min(model.last_seq());
            let read = &mut model.last_read[actor];
            let moved = reachable > *read;
            *read = (*read).max(reachable);
            let op = format!("{actor} marks read up to {seq}");
            assert_eq!(marked, model.read_state(actor), "{b:?}: {op} returns");
            let reported = changes.len();
            assert_eq!(reported, usize::from(moved), "{b:?}: {op}: {changes:?}");
            op
        }
        _ => {
            let sent = post(store, convo, &members[actor], "hello").await;
            let seq = model.last_seq() + 1;
            assert_eq!(sent.seq, seq, "{b:?}: gapless");
            let (deleted, hidden) = (false, [false; 2]);
            model.messages.push(Sent {
                id: sent.id,
                seq,
                sender: actor,
                deleted,
                hidden,
            });
            format!("{actor} sends seq {seq}")
        }
    }
}

#[tokio::test]
async fn unread_counts_follow_a_model_through_random_operations() {
    const SEEDS: [u64; 2] = [0x9E37_79B9_7F4A_7C15, 0x0123_4567_89AB_CDEF];
    const OPS: usize = 150;
    for seed in SEEDS {
        for db in TestDb::all().await {
            let (store, b) = (db.store(), db.backend());
            let members = users(&store, ["alice", "bob"]).await;
            let convo = open(&store, &members[0], &members[1]).await.id;
            let (mut model, mut rng) = (Model::default(), Rng(seed));

            for n in 0..OPS {
                let op = step(&store, convo, &members, &mut model, &mut rng).await;
                for (user, member) in members.iter().enumerate() {
                    let actual = store.read_state(convo, member.id).await.must(b);
                    let expected = model.read_state(user);
                    let context = format!("seed {seed:#x}, op {n} ({op}), user {user}");
                    assert_eq!(actual, expected, "{b:?}: {context}");
                }
            }

            for (user, member) in members.iter().enumerate() {
                let read = window(&store, convo, member, HistoryWindow::Latest, 1000).await;
                let expected = model.visible_to(user);
                assert_eq!(seqs(&read.messages), expected, "{b:?}: seed {seed:#x}");
            }
        }
    }
}
