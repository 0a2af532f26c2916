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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use missive_store::UserId;
use tokio::sync::watch;
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

pub struct Doorbell {
    listeners: Mutex<HashMap<UserId, watch::Sender<Bell>>>,
    redis: Option<Redis>,
    /// Says once that publishing failed, and once that it works again.
    publishing: redis_conn::Breaker,
}

/// An open stream's ear: changes whenever its user's bell rings. Dropping the last one of a
/// user forgets the user.
pub struct Listener {
    pub bell: watch::Receiver<Bell>,
    user: UserId,
    doorbell: Arc<Doorbell>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let mut listeners = self.doorbell.listeners();
        if let Some(sender) = listeners.get(&self.user)
            && sender.receiver_count() <= 1
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
            publishing: redis_conn::Breaker::default(),
        })
    }

    fn listeners(&self) -> MutexGuard<'_, HashMap<UserId, watch::Sender<Bell>>> {
        self.listeners
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn listen(self: &Arc<Self>, user: UserId) -> Listener {
        let bell = self
            .listeners()
            .entry(user)
            .or_insert_with(|| watch::channel(Bell::default()).0)
            .subscribe();
        Listener {
            bell,
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
        if let Some(redis) = &self.redis
            && self.publishing.may_try()
        {
            self.publish(redis, rings).await;
        }
    }

    async fn publish(&self, redis: &Redis, rings: &[Ring]) {
        let channel = channel(redis);
        let mut pipe = redis::pipe();
        for ring in rings {
            pipe.publish(&channel, encode(*ring)).ignore();
        }
        let mut connection = redis.connection.clone();
        match redis_conn::within_budget(pipe.query_async::<()>(&mut connection)).await {
            Ok(()) => {
                if self.publishing.succeeded() {
                    tracing::info!("doorbell: publishing through Redis again");
                }
            }
            Err(err) => {
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
        if let Some(sender) = self.listeners().get(&user) {
            // An older head (an echo from Redis, the poller) wakes no one.
            sender.send_if_modified(|bell| match ring {
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
        for sender in self.listeners().values() {
            sender.send_modify(|bell| bell.nudges += 1);
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
                                    let payload: Vec<u8> = message.get_payload_bytes().to_vec();
                                    if let Some(ring) = decode(&payload) {
                                        self.ring_here(ring);
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

/// `h:<user>:<head>` or `s:<user>`.
fn encode(ring: Ring) -> String {
    match ring {
        Ring::Head(user, head) => format!("h:{user}:{head}"),
        Ring::Sessions(user) => format!("s:{user}"),
    }
}

fn decode(payload: &[u8]) -> Option<Ring> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.split(':');
    let ring = match (parts.next()?, parts.next()?.parse().ok().map(UserId)?) {
        ("h", user) => Ring::Head(user, parts.next()?.parse().ok()?),
        ("s", user) => Ring::Sessions(user),
        _ => return None,
    };
    parts.next().is_none().then_some(ring)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_survive_the_wire_and_garbage_is_ignored() {
        for ring in [Ring::Head(UserId(7), 42), Ring::Sessions(UserId(3))] {
            assert_eq!(decode(encode(ring).as_bytes()), Some(ring));
        }
        for garbage in ["", "h:1", "h:x:2", "s:1:2", "x:1", "h:1:2:3"] {
            assert_eq!(decode(garbage.as_bytes()), None, "{garbage}");
        }
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
