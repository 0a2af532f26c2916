//! Validated input: each type can only hold a value that passed its rules, so code past the
//! handler never re-checks. Errors name the field and never repeat a password.

use email_address::EmailAddress;

use crate::error::{ApiError, FieldError};

/// 3–50 characters of ASCII letters, digits, `_`, `.`, `-`. ASCII only, so that two names
/// that look alike are alike, and case-insensitive comparison means the same on every backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let len = raw.chars().count();
        if !(Self::MIN..=Self::MAX).contains(&len) {
            return Err(FieldError::new("username", "must be 3 to 50 characters"));
        }
        if !raw.chars().all(is_username_char) {
            return Err(FieldError::new(
                "username",
                "may contain only letters, digits, '_', '.' and '-'",
            ));
        }
        Ok(Self(raw.to_owned()))
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

/// A syntactically valid e-mail address of at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        if raw.len() > 254 || raw.contains('\0') || !EmailAddress::is_valid(raw) {
            return Err(FieldError::new("email", "must be a valid e-mail address"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A new password: 8–128 characters. The upper bound keeps hashing cost bounded.
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let len = raw.chars().count();
        if !(8..=128).contains(&len) {
            return Err(FieldError::new("password", "must be 8 to 128 characters"));
        }
        Ok(Self(raw.to_owned()))
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
        let len = raw.chars().count();
        if len == 0 || len > max_chars {
            return Err(FieldError::new(
                "content",
                format!("must be 1 to {max_chars} characters"),
            ));
        }
        if raw.contains('\0') {
            return Err(FieldError::new(
                "content",
                "must not contain NUL characters",
            ));
        }
        Ok(Self(raw))
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
    if name.chars().count() > 200 || name.contains('\0') {
        return Err(FieldError::new(
            "full_name",
            "must be at most 200 characters, without NUL",
        ));
    }
    Ok(Some(name))
}

/// Checks several fields at once, so one 422 lists every bad field:
/// `let (email, password) = (Email::parse(..), Password::parse(..)).all_valid()?;`
pub trait AllValid {
    type Values;
    fn all_valid(self) -> Result<Self::Values, ApiError>;
}

macro_rules! all_valid_for_tuple {
    ($($value:ident),+) => {
        impl<$($value),+> AllValid for ($(Result<$value, FieldError>,)+) {
            type Values = ($($value,)+);
            #[allow(non_snake_case)]
            fn all_valid(self) -> Result<Self::Values, ApiError> {
                let ($($value,)+) = self;
                match ($($value,)+) {
                    ($(Ok($value),)+) => Ok(($($value,)+)),
                    ($($value,)+) => {
                        let mut errors = Vec::new();
                        $(if let Err(err) = $value { errors.push(err); })+
                        Err(ApiError::Validation(errors))
                    }
                }
            }
        }
    };
}
all_valid_for_tuple!(A, B);
all_valid_for_tuple!(A, B, C);
all_valid_for_tuple!(A, B, C, D);

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
}
