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
    // A login counts against the failures budget before it runs (so that a burst of attempts
    // cannot all slip in before the first failure is recorded), and gets its slot back unless
    // it was refused as a failed login.
    let mut reserved = None;
    let mut shown = None;
    if let Some(rule) = failures {
        let key = limit_key(&state, &rule, &mut request);
        let (decision, ticket) = state.limiter().reserve(&rule, &key).await;
        if !decision.allowed {
            return with_headers(refusal(&rule, &decision).into_response(), &decision);
        }
        reserved = ticket.map(|ticket| (rule, key, ticket));
        shown = Some(decision);
    }
    if let Some(rule) = every {
        let key = limit_key(&state, &rule, &mut request);
        let counted = state.limiter().check(&rule, &key).await;
        if !counted.allowed {
            if let Some((rule, key, ticket)) = reserved {
                state.limiter().refund(&rule, &key, ticket).await;
            }
            return with_headers(refusal(&rule, &counted).into_response(), &counted);
        }
        shown = Some(counted);
    }
    let response = next.run(request).await;
    if let Some((rule, key, ticket)) = reserved
        && response.status() != StatusCode::UNAUTHORIZED
    {
        state.limiter().refund(&rule, &key, ticket).await;
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
        if let Some(subject) = token.and_then(|t| state.core().tokens().verify(t).ok()) {
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
    format!("ip:{}", network_of(ip))
}

/// What an IP-keyed rule counts: the address itself for IPv4, its /64 network for IPv6, since
/// one IPv6 host is usually given a whole /64 and could otherwise use a fresh address for every
/// request.
fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !u128::from(u64::MAX);
            IpAddr::V6(std::net::Ipv6Addr::from(prefix))
        }
    }
}

/// The 429, in the rule's own words.
fn refusal(rule: &Rule, decision: &Decision) -> ApiError {
    crate::metrics::rate_limited(rule.name);
    ApiError::RateLimited {
        detail: rule.refusal,
        retry_after_secs: whole_seconds(decision).max(1),
    }
}

/// Seconds, rounded up: a client that waits this long will find a free slot.
fn whole_seconds(decision: &Decision) -> u64 {
    decision.reset_after.as_millis().div_ceil(1000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_bit_network() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network_of(a), network_of(b));
        assert_ne!(network_of(a), network_of(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(network_of(v4), v4);
    }
}
