//! The in-process limiter: one sliding-window log per key, in a bounded cache so that idle
//! keys are forgotten and memory stays bounded whatever clients send.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::sync::Cache;

use super::{Decision, RateLimiter, Rule, Ticket};

/// Keys remembered at once; beyond this the least recently used are dropped (which can only
/// make a limit more lenient for a client idle long enough to be evicted).
const MAX_KEYS: u64 = 200_000;

pub struct MemoryLimiter {
    logs: Cache<String, Arc<Mutex<VecDeque<Instant>>>>,
}

impl MemoryLimiter {
    /// `longest_window`: the longest window of any rule, after which an idle key is dropped.
    pub fn new(longest_window: Duration) -> Self {
        Self {
            logs: Cache::builder()
                .max_capacity(MAX_KEYS)
                .time_to_idle(longest_window)
                .build(),
        }
    }

    /// The decision, made at `now` (separate so tests need not sleep).
    pub fn check_at(&self, rule: &Rule, key: &str, now: Instant) -> Decision {
        let log = self
            .logs
            .get_with_by_ref(&log_key(rule, key), Default::default);
        let mut log = log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while log
            .front()
            .is_some_and(|at| now.duration_since(*at) >= rule.window)
        {
            log.pop_front();
        }
        let allowed = log.len() < rule.limit as usize;
        if allowed {
            log.push_back(now);
        }
        let reset_after = log.front().map_or(Duration::ZERO, |oldest| {
            rule.window - now.duration_since(*oldest)
        });
        Decision {
            allowed,
            limit: rule.limit,
            remaining: rule.limit.saturating_sub(log.len() as u32),
            reset_after,
        }
    }
}

/// The log of one rule and key. A rule's new settings take effect with a fresh log.
pub(super) fn log_key(rule: &Rule, key: &str) -> String {
    format!(
        "{}:{}:{}:{key}",
        rule.name,
        rule.limit,
        rule.window.as_millis()
    )
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn check(&self, rule: &Rule, key: &str) -> Decision {
        self.check_at(rule, key, Instant::now())
    }

    async fn reserve(&self, rule: &Rule, key: &str) -> (Decision, Option<Ticket>) {
        let now = Instant::now();
        let decision = self.check_at(rule, key, now);
        (decision, decision.allowed.then_some(Ticket::InProcess(now)))
    }

    async fn refund(&self, rule: &Rule, key: &str, ticket: Ticket) {
        let Ticket::InProcess(at) = ticket else {
            return;
        };
        if let Some(log) = self.logs.get(&log_key(rule, key)) {
            let mut log = log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(position) = log.iter().rposition(|counted| *counted == at) {
                log.remove(position);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        name: "test",
        limit: 3,
        window: Duration::from_secs(60),
        key: super::super::KeyBy::User,
        counts: super::super::Counts::Every,
        refusal: "Rate limit exceeded",
        on_by_default: true,
    };

    #[test]
    fn at_most_limit_requests_pass_in_any_window_and_refusals_are_not_counted() {
        let limiter = MemoryLimiter::new(Duration::from_secs(60));
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        let allowed: Vec<bool> = [0, 10, 20, 30, 59]
            .iter()
            .map(|s| limiter.check_at(&RULE, "k", at(*s)).allowed)
            .collect();
        assert_eq!(allowed, [true, true, true, false, false]);
        // The first request leaves the window at 60 s: exactly one slot frees.
        assert!(limiter.check_at(&RULE, "k", at(60)).allowed);
        assert!(!limiter.check_at(&RULE, "k", at(61)).allowed);
        assert!(limiter.check_at(&RULE, "k", at(70)).allowed);
    }

    #[tokio::test]
    async fn a_refund_gives_back_exactly_the_slot_reserved() {
        let limiter = MemoryLimiter::new(Duration::from_secs(60));
        for _ in 0..10 {
            let (decision, ticket) = limiter.reserve(&RULE, "k").await;
            assert!(decision.allowed);
            limiter.refund(&RULE, "k", ticket.unwrap()).await;
        }
        for _ in 0..3 {
            assert!(limiter.reserve(&RULE, "k").await.0.allowed);
        }
        let (refused, ticket) = limiter.reserve(&RULE, "k").await;
        assert!(!refused.allowed);
        assert_eq!(ticket, None);
    }

    #[test]
    fn decisions_say_what_is_left_and_when_to_retry() {
        let limiter = MemoryLimiter::new(Duration::from_secs(60));
        let start = Instant::now();
        let first = limiter.check_at(&RULE, "k", start);
        assert_eq!(
            (first.remaining, first.reset_after),
            (2, Duration::from_secs(60))
        );
        limiter.check_at(&RULE, "k", start + Duration::from_secs(5));
        limiter.check_at(&RULE, "k", start + Duration::from_secs(6));
        let refused = limiter.check_at(&RULE, "k", start + Duration::from_secs(20));
        assert!(!refused.allowed);
        assert_eq!(
            (refused.remaining, refused.reset_after),
            (0, Duration::from_secs(40))
        );
    }

    #[test]
    fn keys_and_rules_are_counted_apart() {
        let limiter = MemoryLimiter::new(Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..3 {
            limiter.check_at(&RULE, "alice", now);
        }
        assert!(!limiter.check_at(&RULE, "alice", now).allowed);
        assert!(limiter.check_at(&RULE, "bob", now).allowed);
        let other = Rule {
            name: "other",
            ..RULE
        };
        assert!(limiter.check_at(&other, "alice", now).allowed);
    }
}
