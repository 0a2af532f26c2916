//! The doorbell: how an open event stream learns, after commit, that its user's stream has
//! something new (or that their sessions changed). It carries no events: the database holds
//! them, and a stream that hears the bell reads them from there. So a lost ring costs
//! latency, never an event: the node's poller (`Core::poll_heads`, every
//! [`POLL_INTERVAL`]) rings for anything a lost ring left unannounced.
//!
//! In process, each user with an open stream has a `watch` channel. With Redis, every ring
//! is also published on one channel that every instance subscribes to, so a write through
//! one instance reaches streams open on all of them; the subscription is made again after
//! any failure, and every local stream then re-reads the database.
//!
//! The one thing it does carry is ephemeral: "someone is typing" ([`Typing`]), which is never
//! stored, goes the same ways, and is dropped rather than queued when anything is behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use missive_store::{ConversationId, UserId};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::redis_conn::{self, Redis};

/// How often each instance compares its listeners' heads with the database, in case a ring
/// was lost (Redis down, a write made by another process without Redis).
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What a listener is told: the newest position known for the user's stream, and counters
/// that change when their sessions change or when everything should be re-read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bell {
    pub head: i64,
    pub sessions: u64,
    pub nudges: u64,
}

/// One ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ring {
    /// The user's stream reached this position.
    Head(UserId, i64),
    /// The user's sessions changed (one ended, the account was deleted).
    Sessions(UserId),
}

/// Someone is typing in a conversation: for the open streams of its other members, now or
/// never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Typing {
    pub conversation: ConversationId,
    pub user: UserId,
}

/// A typing notice and when this instance heard it: one a stream could not pass on at once
/// is stale after [`TYPING_EVERY`], and dropped then.
#[derive(Clone, Copy, Debug)]
pub struct TypingHeard {
    pub typing: Typing,
    pub at: tokio::time::Instant,
}

impl TypingHeard {
    pub fn is_fresh(&self) -> bool {
        self.at.elapsed() < TYPING_EVERY
    }
}

/// Typing notices a listener may hold unread before the oldest are dropped.
const TYPING_BUFFER: usize = 8;

/// At most one typing notice per member per conversation this often; clients repeat theirs
/// while the user types, and show "typing" for a little longer than this.
pub const TYPING_EVERY: Duration = Duration::from_secs(3);

/// Recent typing notices this instance let through, when Redis is not there to keep them.
const TYPING_GATE_SIZE: usize = 10_000;

/// What one user's listeners share.
struct Ear {
    bell: watch::Sender<Bell>,
    typing: broadcast::Sender<TypingHeard>,
}

pub struct Doorbell {
    listeners: Mutex<HashMap<UserId, Ear>>,
    redis: Option<Redis>,
    /// This instance's mark on the typing notices it publishes. Redis hands every
    /// publication back to its publisher's own subscription too; a ring heard twice is
    /// harmless (an old head wakes no one), but a typing notice heard back would reach this
    /// instance's streams a second time, after `typing` has already delivered it here.
    origin: u64,
    /// Says once that publishing failed, and once that it works again.
    publishing: redis_conn::Breaker,
    /// When each (user, conversation) last had a typing notice through, without Redis.
    typing_gate: Mutex<HashMap<(UserId, ConversationId), std::time::Instant>>,
}

/// An open stream's ear: changes whenever its user's bell rings. Dropping the last one of a
/// user forgets the user.
pub struct Listener {
    pub bell: watch::Receiver<Bell>,
    /// Others typing in the user's conversations; lags (dropping the oldest) rather than
    /// queueing.
    pub typing: broadcast::Receiver<TypingHeard>,
    user: UserId,
    doorbell: Arc<Doorbell>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut listeners = self.doorbell.listeners();
        if let Some(ear) = listeners.get(&self.user)
            && ear.bell.receiver_count() <= 1
        {
            listeners.remove(&self.user);
        }
    }
}

impl Doorbell {
    pub fn new(redis: Option<Redis>) -> Arc<Self> {
        Arc::new(Self {
            listeners: Mutex::default(),
            redis,
            origin: rand::random(),
            publishing: redis_conn::Breaker::default(),
            typing_gate: Mutex::default(),
        })
    }

    fn listeners(&self) -> MutexGuard<'_, HashMap<UserId, Ear>> {
        self.listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn listen(self: &Arc<Self>, user: UserId) -> Listener {
        let mut listeners = self.listeners();
        let ear = listeners.entry(user).or_insert_with(|| Ear {
            bell: watch::channel(Bell::default()).0,
            typing: broadcast::channel(TYPING_BUFFER).0,
        });
        Listener {
            bell: ear.bell.subscribe(),
            typing: ear.typing.subscribe(),
            user,
            doorbell: Arc::clone(self),
        }
    }

    /// The users with a stream open on this instance.
    pub fn listening(&self) -> Vec<UserId> {
        self.listeners().keys().copied().collect()
    }

    /// Rings here and, with Redis, on every other instance. Never fails: a ring that cannot
    /// be published is made up for by the pollers.
    pub async fn ring(&self, rings: &[Ring]) {
        for ring in rings {
            self.ring_here(*ring);
        }
        if let Some(redis) = &self.redis {
            if self.publishing.may_try() {
                let heard: Vec<Heard> = rings.iter().map(|ring| Heard::Ring(*ring)).collect();
                self.publish(redis, &heard).await;
            } else {
                crate::metrics::redis_fallback("doorbell");
            }
        }
    }

    /// Tells the streams of `to` (here and, with Redis, on every instance) that someone is
    /// typing. Never fails, never waits for a slow stream.
    pub async fn typing(&self, typing: Typing, to: &[UserId]) {
        self.typing_here(typing, to);
        if let Some(redis) = &self.redis
            && self.publishing.may_try()
        {
            self.publish(redis, &[Heard::Typing(typing, to.to_vec(), self.origin)])
                .await;
        }
    }

    /// Whether `typing` is the first notice of its user in its conversation for
    /// [`TYPING_EVERY`] (then it goes out; the others are coalesced into it). Across instances
    /// with Redis; in process without it, or while Redis does not answer.
    pub async fn first_typing(&self, typing: Typing) -> bool {
        if let Some(redis) = &self.redis
            && self.publishing.may_try()
        {
            let key = redis.key(format_args!(
                "typing:{}:{}",
                typing.user, typing.conversation
            ));
            let mut connection = redis.connection.clone();
            let mut command = redis::cmd("SET");
            command.arg(key).arg(1).arg("NX").arg("PX");
            command.arg(redis_conn::millis(TYPING_EVERY));
            let set = command.query_async::<Option<String>>(&mut connection);
            if let Ok(set) = redis_conn::within_budget(set).await {
                return set.is_some();
            }
        }
        let now = std::time::Instant::now();
        let mut gate = self
            .typing_gate
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if gate.len() >= TYPING_GATE_SIZE {
            gate.retain(|_, at| now.duration_since(*at) < TYPING_EVERY);
        }
        let key = (typing.user, typing.conversation);
        match gate.get(&key) {
            Some(at) if now.duration_since(*at) < TYPING_EVERY => false,
            _ => {
                gate.insert(key, now);
                true
            }
        }
    }

    fn typing_here(&self, typing: Typing, to: &[UserId]) {
        let heard = TypingHeard {
            typing,
            at: tokio::time::Instant::now(),
        };
        let listeners = self.listeners();
        for user in to {
            if let Some(ear) = listeners.get(user) {
                // No receiver, or one that lags: nothing to do, nothing to wait for.
                let _ = ear.typing.send(heard);
            }
        }
    }

    /// Publishes what was heard here as one message (a send into a large group rings
    /// hundreds of streams at once).
    async fn publish(&self, redis: &Redis, heard: &[Heard]) {
        let payload = encode(heard);
        let mut connection = redis.connection.clone();
        let mut command = redis::cmd("PUBLISH");
        command.arg(channel(redis)).arg(payload);
        let published = command.query_async::<()>(&mut connection);
        match redis_conn::within_budget(published).await {
            Ok(()) => {
                if self.publishing.succeeded() {
                    tracing::info!("doorbell: publishing through Redis again");
                }
            }
            Err(err) => {
                crate::metrics::redis_fallback("doorbell");
                if self.publishing.failed() {
                    tracing::warn!(error = %err, "doorbell: cannot publish through Redis; \
                        other instances will see new events within the poll interval");
                }
            }
        }
    }

    /// Rings the listeners on this instance only.
    pub fn ring_here(&self, ring: Ring) {
        let user = match ring {
            Ring::Head(user, _) | Ring::Sessions(user) => user,
        };
        if let Some(ear) = self.listeners().get(&user) {
            // An older head (an echo from Redis, the poller) wakes no one.
            ear.bell.send_if_modified(|bell| match ring {
                Ring::Head(_, head) if head > bell.head => {
                    bell.head = head;
                    true
                }
                Ring::Head(..) => false,
                Ring::Sessions(_) => {
                    bell.sessions += 1;
                    true
                }
            });
        }
    }

    /// Tells every listener here to re-read: after a gap in what this instance heard.
    fn nudge_all(&self) {
        for ear in self.listeners().values() {
            ear.bell.send_modify(|bell| bell.nudges += 1);
        }
    }

    /// With Redis: hears the rings of every instance until `stop`, subscribing again (and
    /// nudging every local listener) after any failure. Without Redis, returns at once.
    pub async fn hear_other_instances(self: Arc<Self>, stop: CancellationToken) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        let mut delay = Duration::from_millis(250);
        let mut was_down = false;
        while !stop.is_cancelled() {
            let subscribed = async {
                let mut pubsub = redis.client.get_async_pubsub().await?;
                pubsub.subscribe(channel(&redis)).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            let pubsub = tokio::select! {
                () = stop.cancelled() => return,
                subscribed = tokio::time::timeout(redis_conn::BUDGET * 4, subscribed) => subscribed,
            };
            match pubsub {
                Ok(Ok(mut pubsub)) => {
                    if was_down {
                        tracing::info!("doorbell: hearing other instances through Redis again");
                    }
                    was_down = false;
                    delay = Duration::from_millis(250);
                    // Anything rung while this instance was not listening is read now.
                    self.nudge_all();
                    let mut messages = pubsub.on_message();
                    loop {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            message = messages.next() => match message {
                                Some(message) => {
                                    for heard in decode(message.get_payload_bytes()) {
                                        match heard {
                                            Heard::Ring(ring) => self.ring_here(ring),
                                            // Delivered here already, before publishing.
                                            Heard::Typing(_, _, origin) if origin == self.origin => {}
                                            Heard::Typing(typing, to, _) => self.typing_here(typing, &to),
                                        }
                                    }
                                }
                                None => break,
                            },
                        }
                    }
                }
                Ok(Err(err)) if !was_down => {
                    tracing::warn!(error = %err, "doorbell: cannot subscribe through Redis; \
                        streams here see other instances' events within the poll interval");
                    was_down = true;
                }
                Err(_) if !was_down => {
                    tracing::warn!("doorbell: Redis does not answer the subscription");
                    was_down = true;
                }
                _ => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

fn channel(redis: &Redis) -> String {
    redis.key(format_args!("doorbell"))
}

/// What instances tell each other.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Heard {
    Ring(Ring),
    /// Someone is typing; the users to tell; the instance that published it.
    Typing(Typing, Vec<UserId>, u64),
}

/// Space-separated items: `h:<user>:<head>`, `s:<user>`,
/// `t:<conversation>:<user>:<to,...>:<origin>`.
fn encode(heard: &[Heard]) -> String {
    let items: Vec<String> = heard
        .iter()
        .map(|item| match item {
            Heard::Ring(Ring::Head(user, head)) => format!("h:{user}:{head}"),
            Heard::Ring(Ring::Sessions(user)) => format!("s:{user}"),
            Heard::Typing(Typing { conversation, user }, to, origin) => {
                let to: Vec<String> = to.iter().map(ToString::to_string).collect();
                format!("t:{conversation}:{user}:{}:{origin}", to.join(","))
            }
        })
        .collect();
    items.join(" ")
}

/// The items of a payload; anything unreadable is skipped.
fn decode(payload: &[u8]) -> Vec<Heard> {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Vec::new();
    };
    text.split(' ').filter_map(decode_one).collect()
}

fn decode_one(item: &str) -> Option<Heard> {
    let id = |part: Option<&str>| part?.parse::<i64>().ok();
    let mut parts = item.split(':');
    let heard = match parts.next()? {
        "h" => Heard::Ring(Ring::Head(UserId(id(parts.next())?), id(parts.next())?)),
        "s" => Heard::Ring(Ring::Sessions(UserId(id(parts.next())?))),
        "t" => {
            let conversation = ConversationId(id(parts.next())?);
            let user = UserId(id(parts.next())?);
            let to = parts
                .next()?
                .split(',')
                .map(|to| to.parse().ok().map(UserId))
                .collect::<Option<Vec<_>>>()?;
            let origin = parts.next()?.parse().ok()?;
            Heard::Typing(Typing { conversation, user }, to, origin)
        }
        _ => return None,
    };
    parts.next().is_none().then_some(heard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_heard_survives_the_wire_and_garbage_is_ignored() {
        let typing = Typing {
            conversation: ConversationId(9),
            user: UserId(2),
        };
        let heard = vec![
            Heard::Ring(Ring::Head(UserId(7), 42)),
            Heard::Ring(Ring::Sessions(UserId(3))),
            Heard::Typing(typing, vec![UserId(1), UserId(3)], u64::MAX),
        ];
        assert_eq!(decode(encode(&heard).as_bytes()), heard);
        for garbage in [
            "",
            "h:1",
            "h:x:2",
            "s:1:2",
            "x:1",
            "h:1:2:3",
            "t:1:2",
            "t:1:2:x",
            "t:1:2:3",
            "t:1:2:3:x",
            "t:1:2:3:4:5",
        ] {
            assert_eq!(decode(garbage.as_bytes()), vec![], "{garbage}");
        }
        // One bad item does not spoil the others.
        let mixed = decode(b"h:1:2 junk s:4");
        assert_eq!(mixed.len(), 2);
    }

    #[tokio::test]
    async fn typing_reaches_only_the_users_named() {
        let doorbell = Doorbell::new(None);
        let mut alice = doorbell.listen(UserId(1));
        let mut bob = doorbell.listen(UserId(2));
        let typing = Typing {
            conversation: ConversationId(5),
            user: UserId(3),
        };
        doorbell.typing(typing, &[UserId(1)]).await;
        let heard = alice.typing.try_recv().unwrap();
        assert_eq!(heard.typing, typing);
        assert!(heard.is_fresh());
        assert!(bob.typing.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_listener_hears_its_user_only_and_is_forgotten_when_dropped() {
        let doorbell = Doorbell::new(None);
        let mut alice = doorbell.listen(UserId(1));
        let bob = doorbell.listen(UserId(2));
        doorbell.ring(&[Ring::Head(UserId(1), 5)]).await;
        assert!(alice.bell.has_changed().unwrap());
        assert_eq!(alice.bell.borrow_and_update().head, 5);
        assert!(!bob.bell.has_changed().unwrap());
        // An older head changes nothing.
        doorbell.ring_here(Ring::Head(UserId(1), 4));
        assert!(!alice.bell.has_changed().unwrap());
        doorbell.ring_here(Ring::Sessions(UserId(1)));
        assert_eq!(alice.bell.borrow_and_update().sessions, 1);
        drop(alice);
        assert_eq!(doorbell.listening(), vec![UserId(2)]);
        drop(bob);
        assert!(doorbell.listening().is_empty());
    }
}
