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
    pub counts: Counts,
}

/// Which requests a rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// Every request the rule lets through.
    Every,
    /// Only requests answered 401: failed logins. Once the limit is reached, every attempt is
    /// refused (even one with the right password) until the window frees a slot; successful
    /// logins never use it up, so no client that logs in correctly ever meets it.
    Failures,
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

/// Every rule, its default, and the route it guards. The compatibility faces have exactly
/// their seeds' documented limits by default: the other rules on their routes are off until
/// named in `MISSIVE_RATE_LIMITS` (a client the seeds served must not meet a 429 they never
/// gave). `/v1`'s rules guard routes that write or cost a password hash, sized so that an
/// office behind one address can still onboard a team.
const ROUTES: &[(Rule, Initially, Method, &str)] = &[
    (
        per_ip("face1.register", 5),
        Off,
        Method::POST,
        "/auth/register",
    ),
    (per_ip("face1.login", 10), Off, Method::POST, "/auth/login"),
    // Tokens work on every face, so password guessing is throttled on all three login routes
    // alike, counting failures only: a seed's client that logs in correctly never sees it.
    (FAILED_LOGINS, On, Method::POST, "/auth/login"),
    (FAILED_LOGINS, On, Method::POST, "/login"),
    (FAILED_LOGINS, On, Method::POST, "/v1/auth/login"),
    (per_ip("face2.register", 5), Off, Method::POST, "/register"),
    (per_ip("face2.login", 5), On, Method::POST, "/login"),
    (
        per_ip("v1.register", 30),
        On,
        Method::POST,
        "/v1/auth/register",
    ),
    (per_ip("v1.login", 30), On, Method::POST, "/v1/auth/login"),
    (
        per_ip("v1.refresh", 120),
        On,
        Method::POST,
        "/v1/auth/refresh",
    ),
    (per_user("face1.send", 1), On, Method::POST, "/messages/"),
    (per_user("face1.list", 10), On, Method::GET, "/messages/"),
    (
        per_user("face1.edit", 3),
        On,
        Method::PUT,
        "/messages/{message_id}",
    ),
    (per_user("face2.send", 30), On, Method::POST, "/send"),
    (
        per_user("v1.account", 10),
        On,
        Method::PATCH,
        "/v1/users/me",
    ),
    (per_user("v1.search", 60), On, Method::GET, "/v1/users"),
    (
        per_user("v1.open", 30),
        On,
        Method::POST,
        "/v1/conversations",
    ),
    (
        per_user("v1.send", 60),
        On,
        Method::POST,
        "/v1/conversations/{id}/messages",
    ),
    (
        per_user("v1.edit", 30),
        On,
        Method::PATCH,
        "/v1/messages/{id}",
    ),
    (
        per_user("v1.delete", 30),
        On,
        Method::DELETE,
        "/v1/messages/{id}",
    ),
    (
        per_user("v1.read", 120),
        On,
        Method::POST,
        "/v1/conversations/{id}/read",
    ),
];

/// Whether a rule is in force when `MISSIVE_RATE_LIMITS` does not name it. An `Off` rule's
/// limit is what `name=on` turns on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Initially {
    On,
    Off,
}
use Initially::{Off, On};

/// What `MISSIVE_RATE_LIMITS` says of one rule.
#[derive(Clone, Copy, Debug)]
enum Setting {
    Off,
    On,
    Rate(u32, Duration),
}

/// A per-minute rule counted by user: the routes a signed-in user calls.
const fn per_user(name: &'static str, limit: u32) -> Rule {
    Rule {
        name,
        limit,
        window: MINUTE,
        key: KeyBy::User,
        counts: Counts::Every,
    }
}

/// A per-minute rule counted by client IP: the routes that hand out tokens.
const fn per_ip(name: &'static str, limit: u32) -> Rule {
    Rule {
        name,
        limit,
        window: MINUTE,
        key: KeyBy::Ip,
        counts: Counts::Every,
    }
}

/// Failed logins per client IP, on every login route together.
const FAILED_LOGINS: Rule = Rule {
    counts: Counts::Failures,
    ..per_ip("login.failures", 10)
};

/// The rules in force. Empty when limits are off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    by_route: Vec<(Method, &'static str, Rule)>,
}

impl Default for Rules {
    fn default() -> Self {
        Self::with(|rule, initially| (initially == On).then_some(*rule))
    }
}

impl Rules {
    /// The rules `choose` keeps (and how), from every rule and whether it is on by default.
    fn with(choose: impl Fn(&Rule, Initially) -> Option<Rule>) -> Self {
        let by_route = ROUTES
            .iter()
            .filter_map(|(rule, initially, method, path)| {
                choose(rule, *initially).map(|rule| (method.clone(), *path, rule))
            })
            .collect();
        Self { by_route }
    }

    /// No limits at all (`MISSIVE_RATE_LIMITS=off`, for benchmarks).
    pub fn off() -> Self {
        Self {
            by_route: Vec::new(),
        }
    }

    /// The rules guarding a route (`path` as the router matched it): at most one counting
    /// every request, and at most one counting failures.
    pub fn for_route<'a>(
        &'a self,
        method: &'a Method,
        path: &'a str,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        self.by_route
            .iter()
            .filter(move |(m, p, _)| m == method && *p == path)
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

    /// Every rule name, once each, for error messages and documentation.
    pub fn names() -> impl Iterator<Item = &'static str> {
        let mut names: Vec<_> = ROUTES.iter().map(|(rule, ..)| rule.name).collect();
        names.dedup();
        names.into_iter()
    }

    /// Parses `MISSIVE_RATE_LIMITS`: `off`, or `name=N/unit,...` (units `s`, `min`, `h`,
    /// `day`) where a value of `off` removes that one rule and `on` puts it in force with its
    /// own limit. Unnamed rules keep their defaults.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("off") {
            return Ok(Self::off());
        }
        let mut overrides: BTreeMap<&str, Setting> = BTreeMap::new();
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
            let setting = if value.eq_ignore_ascii_case("off") {
                Setting::Off
            } else if value.eq_ignore_ascii_case("on") {
                Setting::On
            } else {
                let (limit, window) = parse_rate(value).ok_or_else(|| {
                    format!(
                        "`{value}` for {name} is not N/unit, on or off (unit: s, min, h or day)"
                    )
                })?;
                Setting::Rate(limit, window)
            };
            overrides.insert(name, setting);
        }
        Ok(Self::with(|rule, initially| {
            match overrides.get(rule.name) {
                None if initially == Off => None,
                None | Some(Setting::On) => Some(*rule),
                Some(Setting::Off) => None,
                Some(Setting::Rate(limit, window)) => Some(Rule {
                    limit: *limit,
                    window: *window,
                    ..*rule
                }),
            }
        }))
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

    /// The route's rule that counts every request.
    fn every<'a>(rules: &'a Rules, method: &'a Method, path: &'a str) -> Option<&'a Rule> {
        rules
            .for_route(method, path)
            .find(|rule| rule.counts == Counts::Every)
    }

    #[test]
    fn the_seeds_limits_are_the_defaults() {
        let rules = Rules::default();
        let face2_send = every(&rules, &Method::POST, "/send").unwrap();
        assert_eq!((face2_send.limit, face2_send.window), (30, MINUTE));
        let face1_send = every(&rules, &Method::POST, "/messages/").unwrap();
        assert_eq!(face1_send.limit, 1);
        assert!(every(&rules, &Method::GET, "/messages").is_none());
    }

    #[test]
    fn overrides_change_or_remove_named_rules_only() {
        let rules = Rules::parse("face2.send=100/min, face1.send=off,v1.login=3/s").unwrap();
        assert_eq!(every(&rules, &Method::POST, "/send").unwrap().limit, 100);
        assert!(every(&rules, &Method::POST, "/messages/").is_none());
        let login = every(&rules, &Method::POST, "/v1/auth/login").unwrap();
        assert_eq!((login.limit, login.window), (3, Duration::from_secs(1)));
        assert_eq!(every(&rules, &Method::POST, "/login").unwrap().limit, 5);
    }

    #[test]
    fn routes_that_hand_out_tokens_count_by_ip() {
        let rules = Rules::default();
        for (method, path) in [(Method::POST, "/login"), (Method::POST, "/v1/auth/refresh")] {
            assert_eq!(
                every(&rules, &method, path).unwrap().key,
                KeyBy::Ip,
                "{path}"
            );
        }
        assert_eq!(
            every(&rules, &Method::POST, "/send").unwrap().key,
            KeyBy::User
        );
    }

    #[test]
    fn rules_the_seeds_did_not_have_are_off_until_named() {
        let rules = Rules::default();
        for path in ["/register", "/auth/register", "/auth/login"] {
            assert!(every(&rules, &Method::POST, path).is_none(), "{path}");
        }
        let rules = Rules::parse("face2.register=on,face1.login=2/min").unwrap();
        let register = every(&rules, &Method::POST, "/register").unwrap();
        assert_eq!((register.limit, register.key), (5, KeyBy::Ip));
        assert_eq!(
            every(&rules, &Method::POST, "/auth/login").unwrap().limit,
            2
        );
        assert!(every(&rules, &Method::POST, "/auth/register").is_none());
    }

    #[test]
    fn an_office_behind_one_address_can_onboard_a_team_on_v1() {
        let rules = Rules::default();
        let register = every(&rules, &Method::POST, "/v1/auth/register").unwrap();
        assert!(register.limit >= 30 && register.window == MINUTE);
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
