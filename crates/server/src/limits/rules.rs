//! The named rate-limit rules, their defaults, and how `MISSIVE_RATE_LIMITS` changes them.
//! Which route a rule guards is said beside the route (`http::rate_limit::limited`).

use std::collections::BTreeMap;
use std::time::Duration;

/// One named limit: at most `limit` requests per `window` for each counted party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub limit: u32,
    pub window: Duration,
    pub key: KeyBy,
    pub counts: Counts,
    /// The 429's `detail` (a seed's own wording where it had one).
    pub refusal: &'static str,
    /// In force unless `MISSIVE_RATE_LIMITS` says otherwise; a rule that is not can be
    /// turned on by name (`name=on`) with its limit.
    pub on_by_default: bool,
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

/// Which requests a rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// Every request the rule lets through.
    Every,
    /// Only requests answered 401: failed logins. Each attempt takes a slot before it runs and
    /// gives it back unless it failed. Once the limit is reached, every attempt from that party
    /// is refused (even one with the right password) until the window frees a slot.
    Failures,
}

const MINUTE: Duration = Duration::from_secs(60);
const EXCEEDED: &str = "Rate limit exceeded";
const TOO_MANY_LOGINS: &str = "Too many login attempts, try later";

// The compatibility faces have exactly their seeds' documented limits by default: the other
// rules on their routes are off until named in `MISSIVE_RATE_LIMITS` (a client the seeds
// served must not meet a 429 they never gave). `/v1`'s rules guard routes that write or cost
// a password hash, sized so that an office behind one address can still onboard a team.
pub const FACE1_REGISTER: Rule = per_ip("face1.register", 5).off_by_default();
pub const FACE1_LOGIN: Rule = per_ip("face1.login", 10).off_by_default();
pub const FACE1_SEND: Rule = per_user("face1.send", 1);
pub const FACE1_LIST: Rule = per_user("face1.list", 10);
pub const FACE1_EDIT: Rule = per_user("face1.edit", 3);
pub const FACE2_REGISTER: Rule = per_ip("face2.register", 5).off_by_default();
pub const FACE2_LOGIN: Rule = per_ip("face2.login", 5).refusing(TOO_MANY_LOGINS);
pub const FACE2_SEND: Rule = per_user("face2.send", 30);
pub const V1_REGISTER: Rule = per_ip("v1.register", 30);
pub const V1_LOGIN: Rule = per_ip("v1.login", 30);
pub const V1_REFRESH: Rule = per_ip("v1.refresh", 120);
pub const V1_ACCOUNT: Rule = per_user("v1.account", 10);
pub const V1_SEARCH: Rule = per_user("v1.search", 60);
pub const V1_OPEN: Rule = per_user("v1.open", 30);
pub const V1_SEND: Rule = per_user("v1.send", 60);
pub const V1_EDIT: Rule = per_user("v1.edit", 30);
pub const V1_DELETE: Rule = per_user("v1.delete", 30);
pub const V1_READ: Rule = per_user("v1.read", 120);
/// Changing groups: members, roles, titles. (Creating one counts under `v1.open`.)
pub const V1_GROUP: Rule = per_user("v1.group", 60);
/// `POST .../typing` (notices are coalesced anyway; this bounds the membership checks).
pub const V1_TYPING: Rule = per_user("v1.typing", 120);
/// `GET /v1/users/me/export`: reads everything the user has, so it is the dearest read.
pub const V1_EXPORT: Rule = per_user("v1.export", 2);
/// Failed logins per client IP, on every login route together: tokens work on every face, so
/// one unguarded login route would undo the others.
pub const FAILED_LOGINS: Rule = Rule {
    counts: Counts::Failures,
    ..per_ip("login.failures", 10).refusing(TOO_MANY_LOGINS)
};

/// Every rule, for `MISSIVE_RATE_LIMITS` to name.
const CATALOGUE: &[Rule] = &[
    FACE1_REGISTER,
    FACE1_LOGIN,
    FACE1_SEND,
    FACE1_LIST,
    FACE1_EDIT,
    FACE2_REGISTER,
    FACE2_LOGIN,
    FACE2_SEND,
    FAILED_LOGINS,
    V1_REGISTER,
    V1_LOGIN,
    V1_REFRESH,
    V1_ACCOUNT,
    V1_SEARCH,
    V1_OPEN,
    V1_SEND,
    V1_EDIT,
    V1_DELETE,
    V1_READ,
    V1_GROUP,
    V1_TYPING,
    V1_EXPORT,
];

/// A per-minute rule counted by user: the routes a signed-in user calls.
const fn per_user(name: &'static str, limit: u32) -> Rule {
    Rule {
        name,
        limit,
        window: MINUTE,
        key: KeyBy::User,
        counts: Counts::Every,
        refusal: EXCEEDED,
        on_by_default: true,
    }
}

/// A per-minute rule counted by client IP: the routes that hand out tokens.
const fn per_ip(name: &'static str, limit: u32) -> Rule {
    Rule {
        key: KeyBy::Ip,
        ..per_user(name, limit)
    }
}

impl Rule {
    const fn off_by_default(self) -> Self {
        Self {
            on_by_default: false,
            ..self
        }
    }

    const fn refusing(self, refusal: &'static str) -> Self {
        Self { refusal, ..self }
    }
}

/// What `MISSIVE_RATE_LIMITS` says of one rule.
#[derive(Clone, Copy, Debug)]
enum Setting {
    Off,
    On,
    Rate(u32, Duration),
}

/// The rules in force, by name, as configured. Empty when limits are off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    in_force: BTreeMap<&'static str, Rule>,
}

impl Default for Rules {
    fn default() -> Self {
        Self::with(|rule| rule.on_by_default.then_some(*rule))
    }
}

impl Rules {
    /// The rules `choose` keeps (and how).
    fn with(choose: impl Fn(&Rule) -> Option<Rule>) -> Self {
        let in_force = CATALOGUE
            .iter()
            .filter_map(|rule| choose(rule).map(|rule| (rule.name, rule)))
            .collect();
        Self { in_force }
    }

    /// No limits at all (`MISSIVE_RATE_LIMITS=off`, for benchmarks).
    pub fn off() -> Self {
        Self {
            in_force: BTreeMap::new(),
        }
    }

    /// The configured form of `rule`, or `None` when it is not in force.
    pub fn get(&self, rule: &Rule) -> Option<&Rule> {
        self.in_force.get(rule.name)
    }

    /// The longest window of any rule in force (how long a limiter must remember a key).
    pub fn longest_window(&self) -> Duration {
        self.in_force
            .values()
            .map(|rule| rule.window)
            .max()
            .unwrap_or(MINUTE)
    }

    /// Every rule name, for error messages and documentation.
    pub fn names() -> impl Iterator<Item = &'static str> {
        CATALOGUE.iter().map(|rule| rule.name)
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
        Ok(Self::with(|rule| match overrides.get(rule.name) {
            None if !rule.on_by_default => None,
            None | Some(Setting::On) => Some(*rule),
            Some(Setting::Off) => None,
            Some(Setting::Rate(limit, window)) => Some(Rule {
                limit: *limit,
                window: *window,
                ..*rule
            }),
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

    #[test]
    fn the_seeds_limits_are_the_defaults() {
        let rules = Rules::default();
        let face2_send = rules.get(&FACE2_SEND).unwrap();
        assert_eq!((face2_send.limit, face2_send.window), (30, MINUTE));
        assert_eq!(rules.get(&FACE1_SEND).unwrap().limit, 1);
        assert_eq!(rules.get(&FACE2_LOGIN).unwrap().refusal, TOO_MANY_LOGINS);
    }

    #[test]
    fn overrides_change_or_remove_named_rules_only() {
        let rules = Rules::parse("face2.send=100/min, face1.send=off,v1.login=3/s").unwrap();
        assert_eq!(rules.get(&FACE2_SEND).unwrap().limit, 100);
        assert!(rules.get(&FACE1_SEND).is_none());
        let login = rules.get(&V1_LOGIN).unwrap();
        assert_eq!((login.limit, login.window), (3, Duration::from_secs(1)));
        assert_eq!(rules.get(&FACE2_LOGIN).unwrap().limit, 5);
    }

    #[test]
    fn routes_that_hand_out_tokens_count_by_ip() {
        for rule in [FACE2_LOGIN, V1_REFRESH, V1_REGISTER, FAILED_LOGINS] {
            assert_eq!(rule.key, KeyBy::Ip, "{}", rule.name);
        }
        assert_eq!(FACE2_SEND.key, KeyBy::User);
    }

    #[test]
    fn rules_the_seeds_did_not_have_are_off_until_named() {
        let rules = Rules::default();
        for rule in [FACE2_REGISTER, FACE1_REGISTER, FACE1_LOGIN] {
            assert!(rules.get(&rule).is_none(), "{}", rule.name);
        }
        let rules = Rules::parse("face2.register=on,face1.login=2/min").unwrap();
        let register = rules.get(&FACE2_REGISTER).unwrap();
        assert_eq!((register.limit, register.key), (5, KeyBy::Ip));
        assert_eq!(rules.get(&FACE1_LOGIN).unwrap().limit, 2);
        assert!(rules.get(&FACE1_REGISTER).is_none());
    }

    #[test]
    fn an_office_behind_one_address_can_onboard_a_team_on_v1() {
        let register = Rules::default().get(&V1_REGISTER).copied().unwrap();
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
