//! The middleware that applies [`Rules`](crate::limits::Rules): each limited route counts
//! requests per user (or client IP, without a valid token). A refused request gets 429 and
//! never reaches its handler, so it changes nothing. Limited routes carry `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` on every response.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::client_ip::client_ip;
use crate::auth::bearer_token;
use crate::error::ApiError;
use crate::limits::{Decision, KeyBy, Rule};
use crate::state::AppState;

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

pub async fn enforce(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let rule = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|path| {
            state
                .config()
                .rate_limits
                .for_route(request.method(), path.as_str())
        })
        .copied();
    let Some(rule) = rule else {
        return next.run(request).await;
    };
    let key = limit_key(&state, &rule, &mut request);
    let decision = state.limiter().check(&rule, &key).await;
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        refusal(&rule, &decision).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(LIMIT, HeaderValue::from(decision.limit));
    headers.insert(REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(RESET, HeaderValue::from(whole_seconds(&decision)));
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
    let detail = match rule.name {
        "face2.login" => "Too many login attempts, try later",
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
