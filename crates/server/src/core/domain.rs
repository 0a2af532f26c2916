//! Validated input: each type can only hold a value that passed its rules, so code past the
//! handler never re-checks. Errors name the field and never repeat a password.

use email_address::EmailAddress;

use super::input::{FieldError, Problem};

/// 3–50 characters of ASCII letters, digits, `_`, `.`, `-`. ASCII only, so that two names
/// that look alike are alike, and case-insensitive comparison means the same on every backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let problem = match chars_problem(raw, Self::MIN, Self::MAX) {
            Some(problem) => problem,
            None if raw.chars().all(is_username_char) => return Ok(Self(raw.to_owned())),
            None => Problem::Pattern {
                pattern: "^[A-Za-z0-9_.-]+$",
                words: "may contain only letters, digits, '_', '.' and '-'",
            },
        };
        Err(FieldError::body("username", problem))
    }

    /// The username a message-service registration (which has none) gets: see the README.
    /// The e-mail's local part with other characters replaced by `_`, cut to 40 characters,
    /// extended with `_user` when shorter than 3, and `-N` or a random suffix when taken.
    pub fn derive_from_email(email: &Email, attempt: u32) -> Self {
        let local = email
            .as_str()
            .rsplit_once('@')
            .map_or("", |(local, _)| local);
        let mut base: String = local
            .chars()
            .map(|c| if is_username_char(c) { c } else { '_' })
            .take(40)
            .collect();
        if base.len() < Self::MIN {
            base.push_str("_user");
        }
        match attempt {
            0 => Self(base),
            1..=4 => Self(format!("{base}-{}", attempt + 1)),
            _ => Self(format!("{base}-{:08x}", rand::random::<u32>())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

fn is_username_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// Text outside `min..=max` characters (Unicode scalar values, not bytes), if it is.
fn chars_problem(raw: &str, min: usize, max: usize) -> Option<Problem> {
    let len = raw.chars().count();
    if len < min {
        Some(Problem::TooShort { min, max })
    } else if len > max {
        Some(Problem::TooLong { min, max })
    } else {
        None
    }
}

/// A syntactically valid e-mail address of at most 254 characters, its domain in lower case
/// (as the seeds' e-mail type kept it: a domain's case means nothing, a local part's might).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    const MAX: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        let invalid = |reason: String| FieldError::body("email", Problem::Email { reason });
        if raw.len() > Self::MAX {
            let over = raw.len() - Self::MAX;
            let plural = if over == 1 { "" } else { "s" };
            return Err(invalid(format!(
                "The email address is too long ({over} character{plural} too many)."
            )));
        }
        if raw.contains('\0') {
            return Err(FieldError::body("email", Problem::Nul));
        }
        let address: EmailAddress = raw
            .parse()
            .map_err(|err| invalid(email_reason(&err).to_owned()))?;
        // The address alone, without any display name (`Erin <erin@example.com>`).
        let (local, domain) = (address.local_part(), address.domain());
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Why an address is not one, in the words of Python's email-validator (which the seeds'
/// e-mail type used), for the mistakes people make; a generic reason for the rest.
fn email_reason(err: &email_address::Error) -> &'static str {
    use email_address::Error;
    match err {
        Error::MissingSeparator => "An email address must have an @-sign.",
        Error::LocalPartEmpty => "There must be something before the @-sign.",
        Error::DomainEmpty => "There must be something after the @-sign.",
        Error::DomainTooFew => "The part after the @-sign is not valid. It should have a period.",
        Error::InvalidCharacter => "The email address contains invalid characters.",
        _ => "The email address is not valid.",
    }
}

/// A new password: 8–128 characters. The upper bound keeps hashing cost bounded.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match chars_problem(raw, 8, 128) {
            Some(problem) => Err(FieldError::body("password", problem)),
            None => Ok(Self(raw.to_owned())),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Message text: 1 to `max` characters (Unicode scalar values, not bytes), no NUL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub fn parse(raw: String, max_chars: usize) -> Result<Self, FieldError> {
        if let Some(problem) = chars_problem(&raw, 1, max_chars) {
            return Err(FieldError::body("content", problem));
        }
        if raw.contains('\0') {
            return Err(FieldError::body("content", Problem::Nul));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A group's title: 1 to 100 characters once trimmed, no NUL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupTitle(String);

impl GroupTitle {
    pub const MAX: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let title = raw.trim();
        if let Some(problem) = chars_problem(title, 1, Self::MAX) {
            return Err(FieldError::body("title", problem));
        }
        if title.contains('\0') {
            return Err(FieldError::body("title", Problem::Nul));
        }
        Ok(Self(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional display name: at most 200 characters, no NUL; blank means none.
pub fn parse_full_name(raw: Option<String>) -> Result<Option<String>, FieldError> {
    let Some(name) = raw.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if let Some(problem) = chars_problem(&name, 0, 200) {
        return Err(FieldError::body("full_name", problem));
    }
    if name.contains('\0') {
        return Err(FieldError::body("full_name", Problem::Nul));
    }
    Ok(Some(name))
}

/// An id as written in a URL path: only the canonical form of a positive integer (`42`, never
/// `+42`, `042` or ` 42`), so that one object has exactly one URL.
pub fn canonical_id(raw: &str) -> Option<i64> {
    let canonical = raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
    raw.parse().ok().filter(|id| canonical && *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_ids_are_canonical_positive_integers_only() {
        assert_eq!(canonical_id("9"), Some(9));
        assert_eq!(canonical_id("9223372036854775807"), Some(i64::MAX));
        for refused in [
            "+9",
            "0009",
            "0",
            "-1",
            " 9",
            "9 ",
            "9a",
            "",
            "1e3",
            "9223372036854775808",
        ] {
            assert_eq!(canonical_id(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn usernames_follow_the_rules() {
        assert!(Username::parse("al").is_err());
        assert!(Username::parse("alice.b-c_9").is_ok());
        assert!(Username::parse(&"a".repeat(51)).is_err());
        assert!(Username::parse("bob smith").is_err());
        assert!(Username::parse("jösé").is_err());
    }

    #[test]
    fn derived_usernames_are_valid_and_distinct_per_attempt() {
        let email = Email::parse("Jane.Doe+news@example.com").unwrap();
        assert_eq!(
            Username::derive_from_email(&email, 0).as_str(),
            "Jane.Doe_news"
        );
        assert_eq!(
            Username::derive_from_email(&email, 1).as_str(),
            "Jane.Doe_news-2"
        );
        let short = Email::parse("a@example.com").unwrap();
        assert_eq!(Username::derive_from_email(&short, 0).as_str(), "a_user");
        let long = Email::parse(&format!("{}@example.com", "x".repeat(64))).unwrap();
        for attempt in 0..8 {
            let name = Username::derive_from_email(&long, attempt);
            assert!(Username::parse(name.as_str()).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn content_is_counted_in_characters() {
        assert!(MessageContent::parse("é".repeat(2000), 2000).is_ok());
        assert!(MessageContent::parse("😀".repeat(2001), 2000).is_err());
        assert!(MessageContent::parse(String::new(), 2000).is_err());
        assert!(MessageContent::parse("a\0b".into(), 2000).is_err());
    }

    #[test]
    fn emails_are_validated() {
        assert!(Email::parse("user@example.com").is_ok());
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("a@b@c").is_err());
    }

    #[test]
    fn an_emails_domain_is_lower_cased_and_its_local_part_kept() {
        let email = Email::parse(" Erin.O@Mail.EXAMPLE.com ").unwrap();
        assert_eq!(email.as_str(), "Erin.O@mail.example.com");
        let named = Email::parse("Erin <Erin@EXAMPLE.com>").unwrap();
        assert_eq!(named.as_str(), "Erin@example.com");
    }

    #[test]
    fn a_refused_email_says_why_in_email_validators_words() {
        let reason = |raw: &str| match Email::parse(raw).unwrap_err().problem {
            Problem::Email { reason } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason("erin"), "An email address must have an @-sign.");
        assert_eq!(
            reason("@x.io"),
            "There must be something before the @-sign."
        );
        assert_eq!(reason("erin@"), "There must be something after the @-sign.");
    }
}
