//! Authentication: password hashing, access tokens, and the `AuthUser` extractor that every
//! protected route takes.

mod extractor;
mod password;
mod token;

pub use extractor::{AuthUser, bearer_token};
pub use password::Passwords;
pub use token::{IssuedToken, TokenError, TokenSubject, Tokens};
