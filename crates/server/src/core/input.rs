//! What is wrong with a rejected value, as data rather than words, so that each face can say
//! it its own way: `/v1` in short sentences, the compatibility faces as FastAPI would.

/// Rejected input: every bad field at once, so one answer can list them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub Vec<FieldError>);

impl From<FieldError> for Invalid {
    fn from(err: FieldError) -> Self {
        Self(vec![err])
    }
}

/// Where in the request a rejected value was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    Body,
    Query,
}

/// What is wrong with a value, as data rather than words, so that each face can say it its
/// own way: `/v1` in short sentences, the compatibility faces as FastAPI would.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Missing,
    NotString,
    NotInteger,
    /// A JSON number with a fraction where an integer belongs.
    Fractional,
    /// Text that is not an integer where one belongs (a query parameter, a string id).
    NotIntegerText,
    /// The body is JSON but not an object.
    NotObject,
    /// Some other JSON type than the one expected (serde's wording of it).
    WrongType(String),
    /// Text outside `min..=max` characters, too short or too long.
    TooShort {
        min: usize,
        max: usize,
    },
    TooLong {
        min: usize,
        max: usize,
    },
    /// A number below `min` or above `max`.
    Below {
        min: i64,
        max: Option<i64>,
    },
    Above {
        min: i64,
        max: i64,
    },
    /// Characters outside an alphabet, described by a regular expression.
    Pattern {
        pattern: &'static str,
        words: &'static str,
    },
    /// Not an e-mail address; `reason` says why, in email-validator's words.
    Email {
        reason: String,
    },
    /// A NUL character, which no text column can store.
    Nul,
    /// The body is not JSON at all.
    Json(JsonSyntax),
    /// A rule of our own, in words (`/v1`'s cursors, headers and the like).
    Invalid(String),
}

/// Where and how a body stopped being JSON. `offset` is the byte where the parser gave up;
/// `reason` is Python's wording of the problem (what the seeds' clients saw).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonSyntax {
    pub offset: usize,
    pub line: usize,
    pub column: usize,
    pub reason: &'static str,
    /// The body was empty: FastAPI then says the body is missing rather than malformed.
    pub empty: bool,
}

/// A rejected value: where it was, its name (`None` for the body as a whole) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub loc: Loc,
    pub field: Option<String>,
    pub problem: Problem,
}

impl FieldError {
    /// A body field with a problem.
    pub fn body(field: impl Into<String>, problem: Problem) -> Self {
        Self {
            loc: Loc::Body,
            field: Some(field.into()),
            problem,
        }
    }

    /// A query parameter with a problem.
    pub fn query(field: impl Into<String>, problem: Problem) -> Self {
        Self {
            loc: Loc::Query,
            field: Some(field.into()),
            problem,
        }
    }

    /// The body as a whole.
    pub fn whole_body(problem: Problem) -> Self {
        Self {
            loc: Loc::Body,
            field: None,
            problem,
        }
    }

    /// A field that breaks a rule of our own, said in words.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::body(field, Problem::Invalid(message.into()))
    }

    /// The field's name as `/v1` reports it.
    pub fn name(&self) -> &str {
        self.field.as_deref().unwrap_or("body")
    }

    /// What is wrong, in `/v1`'s words. Never the rejected value.
    pub fn message(&self) -> String {
        match &self.problem {
            Problem::Missing => "field required".into(),
            Problem::NotString => "invalid value: expected a string".into(),
            Problem::NotInteger | Problem::Fractional | Problem::NotIntegerText => {
                "invalid value: expected an integer".into()
            }
            Problem::NotObject => "must be a JSON object".into(),
            Problem::WrongType(expected) => format!("invalid value: expected {expected}"),
            Problem::TooShort { min, max } | Problem::TooLong { min, max } => {
                format!("must be {min} to {max} characters")
            }
            Problem::Below { min, max: None } => format!("must be {min} or more"),
            Problem::Below {
                min,
                max: Some(max),
            }
            | Problem::Above { min, max } => {
                format!("must be {min} to {max}")
            }
            Problem::Pattern { words, .. } => (*words).into(),
            Problem::Email { .. } => "must be a valid e-mail address".into(),
            Problem::Nul => "must not contain NUL characters (\\u0000)".into(),
            Problem::Json(syntax) => format!(
                "malformed JSON at line {} column {}",
                syntax.line, syntax.column
            ),
            Problem::Invalid(message) => message.clone(),
        }
    }
}

/// Checks several fields at once, so one 422 lists every bad field:
/// `let (email, password) = (Email::parse(..), Password::parse(..)).all_valid()?;`
pub trait AllValid {
    type Values;
    fn all_valid(self) -> Result<Self::Values, Invalid>;
}

macro_rules! all_valid_for_tuple {
    ($($value:ident),+) => {
        impl<$($value),+> AllValid for ($(Result<$value, FieldError>,)+) {
            type Values = ($($value,)+);
            #[allow(non_snake_case)]
            fn all_valid(self) -> Result<Self::Values, Invalid> {
                let ($($value,)+) = self;
                match ($($value,)+) {
                    ($(Ok($value),)+) => Ok(($($value,)+)),
                    ($($value,)+) => {
                        let mut errors = Vec::new();
                        $(if let Err(err) = $value { errors.push(err); })+
                        Err(Invalid(errors))
                    }
                }
            }
        }
    };
}
all_valid_for_tuple!(A, B);
all_valid_for_tuple!(A, B, C);
all_valid_for_tuple!(A, B, C, D);
