//! Rate limits on routes: [`limited`] puts named rules on a route, whose middleware counts
//! requests per user (or client IP, without a valid token). A refused request gets 429 and
//! never reaches its handler, so it changes nothing. Limited routes carry `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset` on every response.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Extension;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::bearer_token;
use crate::client_ip::client_ip;
use crate::error::ApiError;
use utoipa_axum::router::UtoipaMethodRouter;

use crate::limits::{Counts, Decision, KeyBy, Rule};
use crate::state::AppState;

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Puts `rules` on a route: enforced on each request, and its 429 documented on each of the
/// route's operations (for the rules in force by default). Which rules a route has is said
/// here, beside the route; their limits come from the configuration.
pub fn limited(
    route: UtoipaMethodRouter<AppState>,
    rules: &'static [Rule],
) -> UtoipaMethodRouter<AppState> {
    let (schemas, mut paths, method_router) = route;
    let documented: Vec<&Rule> = rules.iter().filter(|rule| rule.on_by_default).collect();
    if !documented.is_empty() {
        for item in paths.paths.values_mut() {
            for operation in super::docs::operations(item).map(|(_, op)| op) {
                operation
                    .responses
                    .responses
                    .entry("429".into())
                    .or_insert_with(|| super::docs::rate_limited(&documented).into());
            }
        }
    }
    let enforce = axum::middleware::from_fn_with_state(RouteRules(rules), enforce);
    (schemas, paths, method_router.route_layer(enforce))
}

/// The rules a route carries (as declared; the configured versions are looked up per request).
#[derive(Clone, Copy)]
struct RouteRules(&'static [Rule]);

async fn enforce(
    State(RouteRules(declared)): State<RouteRules>,
    Extension(state): Extension<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let configured = &state.config().rate_limits;
    let mut every = None;
    let mut failures = None;
    for rule in declared.iter().filter_map(|rule| configured.get(rule)) {
        match rule.counts {
            Counts::Every => every = Some(*rule),
            Counts::Failures => failures = Some(*rule),
        }
    }
    // Failed logins are looked at first and counted only once the answer is known.
    let mut watched = None;
    let mut shown = None;
    if let Some(rule) = failures {
        let key = limit_key(&state, &rule, &mut request);
        let standing = state.limiter().peek(&rule, &key).await;
        if !standing.allowed {
            return with_headers(refusal(&rule, &standing).into_response(), &standing);
        }
        watched = Some((rule, key));
        shown = Some(standing);
    }
    if let Some(rule) = every {
        let key = limit_key(&state, &rule, &mut request);
        let counted = state.limiter().check(&rule, &key).await;
        if !counted.allowed {
            return with_headers(refusal(&rule, &counted).into_response(), &counted);
        }
        shown = Some(counted);
    }
    let response = next.run(request).await;
    if let Some((rule, key)) = watched
        && response.status() == StatusCode::UNAUTHORIZED
    {
        state.limiter().check(&rule, &key).await;
    }
    match shown {
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

/// The 429, in the rule's own words.
fn refusal(rule: &Rule, decision: &Decision) -> ApiError {
    ApiError::RateLimited {
        detail: rule.refusal,
        retry_after_secs: whole_seconds(decision).max(1),
    }
}

/// Seconds, rounded up: a client that waits this long will find a free slot.
fn whole_seconds(decision: &Decision) -> u64 {
    decision.reset_after.as_millis().div_ceil(1000) as u64
}
