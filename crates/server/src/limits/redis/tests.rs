//! `RedisLimiter` against a real Redis (`TEST_REDIS_URL`), each test under its own key prefix,
//! and against an unreachable one (always).

use std::io::Write;

use futures::future::join_all;

use std::time::Instant;

use super::*;
use crate::redis_conn::{BUDGET, PAUSE};

const MINUTE: Duration = Duration::from_secs(60);

fn rule(limit: u32, window: Duration) -> Rule {
    Rule {
        name: "test",
        limit,
        window,
        key: crate::limits::KeyBy::User,
        counts: crate::limits::Counts::Every,
        refusal: "Rate limit exceeded",
        on_by_default: true,
    }
}

/// A fresh key prefix on the `TEST_REDIS_URL` Redis, whose keys are deleted when dropped.
struct TestRedis {
    url: String,
    prefix: String,
}

impl TestRedis {
    /// `None` (with a notice) when `TEST_REDIS_URL` is unset; panics when it is set but Redis
    /// does not answer: a configured backend must be tested, never silently skipped.
    async fn new() -> Option<Self> {
        let Ok(url) = std::env::var("TEST_REDIS_URL") else {
            static NOTICE: std::sync::Once = std::sync::Once::new();
            NOTICE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "notice: TEST_REDIS_URL is not set; skipping the Redis limiter tests"
                );
            });
            return None;
        };
        let redis = Self {
            url,
            prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        };
        let mut connection = redis.handle().connection;
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await
            .unwrap_or_else(|err| panic!("TEST_REDIS_URL is set but unreachable: {err}"));
        Some(redis)
    }

    /// A new handle: its own connection, as another instance would have.
    fn handle(&self) -> Redis {
        Redis::connect(&self.url, &self.prefix).expect("a valid TEST_REDIS_URL")
    }

    fn limiter(&self) -> RedisLimiter {
        RedisLimiter::new(self.handle(), MINUTE)
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(mut connection) = redis::Client::open(self.url.as_str())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        else {
            return;
        };
        let pattern = format!("{}:*", self.prefix);
        let keys: Vec<String> = redis::Commands::scan_match(&mut connection, pattern)
            .map(|keys| keys.filter_map(Result::ok).collect())
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

#[tokio::test]
async fn a_refund_gives_back_exactly_the_slot_reserved() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let limiter = redis.limiter();
    let rule = rule(3, MINUTE);
    for _ in 0..10 {
        let (decision, ticket) = limiter.reserve(&rule, "k").await;
        assert!(decision.allowed);
        assert!(matches!(ticket, Some(Ticket::Shared(_))), "{ticket:?}");
        limiter.refund(&rule, "k", ticket.unwrap()).await;
    }
    for _ in 0..3 {
        assert!(limiter.reserve(&rule, "k").await.0.allowed);
    }
    let (refused, ticket) = limiter.reserve(&rule, "k").await;
    assert!(!refused.allowed);
    assert_eq!(ticket, None);
}

#[tokio::test]
async fn at_most_limit_requests_pass_in_any_window_and_refusals_are_not_counted() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let limiter = redis.limiter();
    let rule = rule(3, Duration::from_secs(2));
    assert!(limiter.check(&rule, "k").await.allowed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(limiter.check(&rule, "k").await.allowed);
    assert!(limiter.check(&rule, "k").await.allowed);
    let refused = limiter.check(&rule, "k").await;
    assert!(!refused.allowed);
    assert!(!limiter.check(&rule, "k").await.allowed);
    // Retry when the first request leaves the window (under a second from now), not the others.
    assert!(refused.reset_after > Duration::ZERO, "{refused:?}");
    assert!(refused.reset_after <= Duration::from_secs(1), "{refused:?}");
    tokio::time::sleep(refused.reset_after + Duration::from_millis(50)).await;
    // Exactly one slot is free.
    assert!(limiter.check(&rule, "k").await.allowed);
    let refused = limiter.check(&rule, "k").await;
    assert!(!refused.allowed);
    assert!(refused.reset_after <= Duration::from_secs(1), "{refused:?}");
    assert_eq!(limiter.health().await, LimiterHealth::Ok);
}

#[tokio::test]
async fn decisions_say_what_is_left_and_when_to_retry() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let limiter = redis.limiter();
    let rule = rule(3, MINUTE);
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let decision = limiter.check(&rule, "k").await;
        assert!(decision.allowed && decision.limit == 3, "{decision:?}");
        assert!(
            decision.reset_after > MINUTE - Duration::from_secs(2),
            "{decision:?}"
        );
        assert!(decision.reset_after <= MINUTE, "{decision:?}");
        remaining.push(decision.remaining);
    }
    assert_eq!(remaining, [2, 1, 0]);
    let refused = limiter.check(&rule, "k").await;
    assert_eq!((refused.allowed, refused.remaining), (false, 0));
    assert!(
        refused.reset_after > MINUTE - Duration::from_secs(2),
        "{refused:?}"
    );
}

#[tokio::test]
async fn instances_share_one_count_and_keys_and_rules_are_counted_apart() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let (one, two) = (redis.limiter(), redis.limiter());
    let rule = rule(3, MINUTE);
    assert!(one.check(&rule, "alice").await.allowed);
    assert!(two.check(&rule, "alice").await.allowed);
    assert!(one.check(&rule, "alice").await.allowed);
    assert!(!two.check(&rule, "alice").await.allowed);
    assert!(!one.check(&rule, "alice").await.allowed);
    assert!(two.check(&rule, "bob").await.allowed);
    let other = Rule {
        name: "other",
        ..rule
    };
    assert!(one.check(&other, "alice").await.allowed);
    // A rule's new settings start a fresh log.
    let raised = Rule { limit: 4, ..rule };
    assert!(two.check(&raised, "alice").await.allowed);
}

#[tokio::test]
async fn concurrent_requests_on_two_instances_never_pass_more_than_the_limit() {
    let Some(redis) = TestRedis::new().await else {
        return;
    };
    let (one, two) = (redis.limiter(), redis.limiter());
    let rule = rule(10, MINUTE);
    let checks = (0..60).map(|i| {
        let limiter = if i % 2 == 0 { &one } else { &two };
        limiter.check(&rule, "k")
    });
    let decisions = join_all(checks).await;
    assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 10);
    assert_eq!(one.health().await, LimiterHealth::Ok);
    assert_eq!(two.health().await, LimiterHealth::Ok);
}

#[tokio::test]
async fn an_unreachable_redis_means_in_process_limits_quickly_and_a_degraded_health() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let redis = Redis::connect(&format!("redis://127.0.0.1:{port}"), "nowhere").expect("a URL");
    let limiter = RedisLimiter::new(redis, MINUTE);
    let rule = rule(2, MINUTE);
    let started = Instant::now();
    let allowed: Vec<bool> = join_all((0..3).map(|_| limiter.check(&rule, "k")))
        .await
        .iter()
        .map(|decision| decision.allowed)
        .collect();
    assert_eq!(allowed.iter().filter(|a| **a).count(), 2, "{allowed:?}");
    assert_eq!(limiter.health().await, LimiterHealth::Degraded);
    // Within the pause, Redis is not even tried.
    let decision = limiter.check(&rule, "other").await;
    assert!(decision.allowed && decision.remaining == 1, "{decision:?}");
    assert!(started.elapsed() < BUDGET * 3, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_silent_redis_costs_one_request_per_pause_a_wait_of_at_most_the_budget() {
    // Connections are accepted (by the kernel) and never answered.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = silent.local_addr().expect("its address").port();
    let redis = Redis::connect(&format!("redis://127.0.0.1:{port}"), "silent").expect("a URL");
    let limiter = RedisLimiter::new(redis, MINUTE);
    let rule = rule(100, MINUTE);
    let timed = async |limiter: &RedisLimiter| {
        let started = Instant::now();
        assert!(limiter.check(&rule, "k").await.allowed);
        started.elapsed()
    };

    let first = timed(&limiter).await;
    assert!(first < BUDGET + Duration::from_millis(500), "{first:?}");
    let meanwhile = join_all((0..5).map(|_| timed(&limiter))).await;
    assert!(
        meanwhile
            .iter()
            .all(|took| *took < Duration::from_millis(200)),
        "{meanwhile:?}"
    );

    // After the pause exactly one request tries Redis again (and waits); the rest do not.
    tokio::time::sleep(PAUSE).await;
    let mut after_pause = join_all((0..5).map(|_| timed(&limiter))).await;
    after_pause.sort();
    assert!(
        after_pause[3] < Duration::from_millis(200),
        "{after_pause:?}"
    );
    assert!(after_pause[4] > BUDGET / 2, "{after_pause:?}");
    assert_eq!(limiter.health().await, LimiterHealth::Degraded);
}
