//! Authentication: password hashing and access tokens. (The `AuthUser` extractor that every
//! protected route takes is HTTP's: `http::AuthUser`.)

mod password;
mod token;

pub use password::{PasswordError, Passwords};
pub use token::{IssuedToken, TokenError, TokenSubject, Tokens};
