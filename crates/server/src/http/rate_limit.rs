//! The middleware that applies [`Rules`](crate::limits::Rules): each limited route counts
//! requests per user (or client IP, without a valid token). A refused request gets 429 and
//! never reaches its handler, so it changes nothing. Limited routes carry `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` on every response.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::bearer_token;
use crate::client_ip::client_ip;
use crate::error::ApiError;
use crate::limits::{Counts, Decision, KeyBy, Rule};
use crate::state::AppState;

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

pub async fn enforce(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(route) = request.extensions().get::<MatchedPath>() else {
        return next.run(request).await;
    };
    let rules = &state.config().rate_limits;
    let mut every = None;
    let mut failures = None;
    for rule in rules.for_route(request.method(), route.as_str()) {
        match rule.counts {
            Counts::Every => every = Some(*rule),
            Counts::Failures => failures = Some(*rule),
        }
    }
    if every.is_none() && failures.is_none() {
        return next.run(request).await;
    }
    // Failed logins are looked at first and counted only once the answer is known.
    let mut shown = None;
    if let Some(rule) = failures {
        let key = limit_key(&state, &rule, &mut request);
        let standing = state.limiter().peek(&rule, &key).await;
        if !standing.allowed {
            return with_headers(refusal(&rule, &standing).into_response(), &standing);
        }
        shown = Some((rule, key, standing));
    }
    let mut decision = shown.as_ref().map(|(_, _, standing)| *standing);
    if let Some(rule) = every {
        let key = limit_key(&state, &rule, &mut request);
        let counted = state.limiter().check(&rule, &key).await;
        if !counted.allowed {
            return with_headers(refusal(&rule, &counted).into_response(), &counted);
        }
        decision = Some(counted);
    }
    let response = next.run(request).await;
    if let Some((rule, key, _)) = shown
        && response.status() == StatusCode::UNAUTHORIZED
    {
        state.limiter().check(&rule, &key).await;
    }
    match decision {
        Some(decision) => with_headers(response, &decision),
        None => response,
    }
}

fn with_headers(mut response: Response, decision: &Decision) -> Response {
    let headers = response.headers_mut();
    headers.insert(LIMIT, HeaderValue::from(decision.limit));
    headers.insert(REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(RESET, HeaderValue::from(whole_seconds(decision)));
    response
}

/// Who is counted: for most rules the token's user when it carries a valid signature
/// (checked without a database round trip; the handler still checks the session), otherwise
/// the client IP. A verified token is left in the request for `AuthUser`, which then does not
/// verify it again.
fn limit_key(state: &AppState, rule: &Rule, request: &mut Request) -> String {
    if rule.key == KeyBy::User {
        let token = bearer_token(request.headers());
        if let Some(subject) = token.and_then(|t| state.tokens().verify(t).ok()) {
            request.extensions_mut().insert(subject);
            return format!("user:{}", subject.user_id);
        }
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let config = state.config();
    let ip = client_ip(
        peer,
        request.headers(),
        &config.trusted_proxies,
        config.forwarded_header,
    );
    format!("ip:{ip}")
}

/// The 429. The Chat Service's routes keep their own wording.
fn refusal(rule: &Rule, decision: &Decision) -> ApiError {
    let detail = match (rule.name, rule.counts) {
        ("face2.login", _) | (_, Counts::Failures) => "Too many login attempts, try later",
        _ => "Rate limit exceeded",
    };
    ApiError::RateLimited {
        detail,
        retry_after_secs: whole_seconds(decision).max(1),
    }
}

/// Seconds, rounded up: a client that waits this long will find a free slot.
fn whole_seconds(decision: &Decision) -> u64 {
    decision.reset_after.as_millis().div_ceil(1000) as u64
}
