//! Which routes are limited, how much, and how `MISSIVE_RATE_LIMITS` changes that.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::Method;

/// One named limit: at most `limit` requests per `window` for each counted party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub limit: u32,
    pub window: Duration,
    pub key: KeyBy,
}

/// Whom a rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyBy {
    /// The token's user; the client IP when the request has no valid token.
    User,
    /// Always the client IP: for the routes that hand out tokens (registering, logging in,
    /// refreshing), where a token in the request must not buy a fresh budget.
    Ip,
}

const MINUTE: Duration = Duration::from_secs(60);

/// Every rule, its default, and the route it guards. The compatibility faces keep their
/// seeds' documented limits; the rest guard routes that write or cost a password hash.
const ROUTES: &[(Rule, Method, &str)] = &[
    (per_ip("face1.register", 5), Method::POST, "/auth/register"),
    (per_ip("face1.login", 10), Method::POST, "/auth/login"),
    (per_ip("face2.register", 5), Method::POST, "/register"),
    (per_ip("face2.login", 5), Method::POST, "/login"),
    (per_ip("v1.register", 5), Method::POST, "/v1/auth/register"),
    (per_ip("v1.login", 10), Method::POST, "/v1/auth/login"),
    (per_ip("v1.refresh", 30), Method::POST, "/v1/auth/refresh"),
    (per_user("face1.send", 1), Method::POST, "/messages/"),
    (per_user("face1.list", 10), Method::GET, "/messages/"),
    (
        per_user("face1.edit", 3),
        Method::PUT,
        "/messages/{message_id}",
    ),
    (per_user("face2.send", 30), Method::POST, "/send"),
    (per_user("v1.account", 10), Method::PATCH, "/v1/users/me"),
    (per_user("v1.search", 60), Method::GET, "/v1/users"),
    (per_user("v1.open", 30), Method::POST, "/v1/conversations"),
    (
        per_user("v1.send", 60),
        Method::POST,
        "/v1/conversations/{id}/messages",
    ),
    (per_user("v1.edit", 30), Method::PATCH, "/v1/messages/{id}"),
    (
        per_user("v1.delete", 30),
        Method::DELETE,
        "/v1/messages/{id}",
    ),
    (
        per_user("v1.read", 120),
        Method::POST,
        "/v1/conversations/{id}/read",
    ),
];

/// A per-minute rule counted by user: the routes a signed-in user calls.
const fn per_user(name: &'static str, limit: u32) -> Rule {
    Rule {
        name,
        limit,
        window: MINUTE,
        key: KeyBy::User,
    }
}

/// A per-minute rule counted by client IP: the routes that hand out tokens.
const fn per_ip(name: &'static str, limit: u32) -> Rule {
    Rule {
        name,
        limit,
        window: MINUTE,
        key: KeyBy::Ip,
    }
}

/// The rules in force. Empty when limits are off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    by_route: Vec<(Method, &'static str, Rule)>,
}

impl Default for Rules {
    fn default() -> Self {
        let by_route = ROUTES
            .iter()
            .map(|(rule, method, path)| (method.clone(), *path, *rule))
            .collect();
        Self { by_route }
    }
}

impl Rules {
    /// No limits at all (`MISSIVE_RATE_LIMITS=off`, for benchmarks).
    pub fn off() -> Self {
        Self {
            by_route: Vec::new(),
        }
    }

    /// The rule guarding a route (`path` as the router matched it), if any.
    pub fn for_route(&self, method: &Method, path: &str) -> Option<&Rule> {
        self.by_route
            .iter()
            .find(|(m, p, _)| m == method && *p == path)
            .map(|(_, _, rule)| rule)
    }

    /// The longest window of any rule in force (how long a limiter must remember a key).
    pub fn longest_window(&self) -> Duration {
        self.by_route
            .iter()
            .map(|(_, _, rule)| rule.window)
            .max()
            .unwrap_or(MINUTE)
    }

    /// Every rule name with its default, for error messages and documentation.
    pub fn names() -> impl Iterator<Item = &'static str> {
        ROUTES.iter().map(|(rule, ..)| rule.name)
    }

    /// Parses `MISSIVE_RATE_LIMITS`: `off`, or `name=N/unit,...` (units `s`, `min`, `h`,
    /// `day`) where a value of `off` removes that one rule. Unnamed rules keep their defaults.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("off") {
            return Ok(Self::off());
        }
        let mut overrides: BTreeMap<&str, Option<(u32, Duration)>> = BTreeMap::new();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}` is not name=N/unit"))?;
            let name = name.trim();
            if !Self::names().any(|known| known == name) {
                let known: Vec<_> = Self::names().collect();
                return Err(format!(
                    "unknown rule `{name}`; the rules are {}",
                    known.join(", ")
                ));
            }
            let value = value.trim();
            let parsed = if value.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(parse_rate(value).ok_or_else(|| {
                    format!("`{value}` for {name} is not N/unit (unit: s, min, h or day)")
                })?)
            };
            overrides.insert(name, parsed);
        }
        let mut rules = Self::default();
        rules
            .by_route
            .retain_mut(|(_, _, rule)| match overrides.get(rule.name) {
                None => true,
                Some(None) => false,
                Some(Some((limit, window))) => {
                    (rule.limit, rule.window) = (*limit, *window);
                    true
                }
            });
        Ok(rules)
    }
}

/// `30/min` → (30, 60 s). A limit of 0 is refused: use `off`.
fn parse_rate(value: &str) -> Option<(u32, Duration)> {
    let (count, unit) = value.split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|n| *n > 0)?;
    let seconds = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        _ => return None,
    };
    Some((count, Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_limits_are_the_defaults() {
        let rules = Rules::default();
        let face2_send = rules.for_route(&Method::POST, "/send").unwrap();
        assert_eq!((face2_send.limit, face2_send.window), (30, MINUTE));
        let face1_send = rules.for_route(&Method::POST, "/messages/").unwrap();
        assert_eq!(face1_send.limit, 1);
        assert!(rules.for_route(&Method::GET, "/messages").is_none());
    }

    #[test]
    fn overrides_change_or_remove_named_rules_only() {
        let rules = Rules::parse("face2.send=100/min, face1.send=off,v1.login=3/s").unwrap();
        assert_eq!(rules.for_route(&Method::POST, "/send").unwrap().limit, 100);
        assert!(rules.for_route(&Method::POST, "/messages/").is_none());
        let login = rules.for_route(&Method::POST, "/v1/auth/login").unwrap();
        assert_eq!((login.limit, login.window), (3, Duration::from_secs(1)));
        assert_eq!(rules.for_route(&Method::POST, "/login").unwrap().limit, 5);
    }

    #[test]
    fn routes_that_hand_out_tokens_count_by_ip() {
        let rules = Rules::default();
        for (method, path) in [(Method::POST, "/login"), (Method::POST, "/v1/auth/refresh")] {
            assert_eq!(
                rules.for_route(&method, path).unwrap().key,
                KeyBy::Ip,
                "{path}"
            );
        }
        assert_eq!(
            rules.for_route(&Method::POST, "/send").unwrap().key,
            KeyBy::User
        );
    }

    #[test]
    fn off_turns_every_limit_off() {
        assert_eq!(Rules::parse(" OFF ").unwrap(), Rules::off());
    }

    #[test]
    fn unknown_names_and_bad_syntax_are_refused_with_a_reason() {
        assert!(
            Rules::parse("face3.send=1/min")
                .unwrap_err()
                .contains("face2.send")
        );
        for bad in [
            "face2.send",
            "face2.send=0/min",
            "face2.send=ten/min",
            "face2.send=5/week",
        ] {
            assert!(Rules::parse(bad).is_err(), "{bad}");
        }
    }
}
