//! Access tokens: JWTs signed with HS256. The algorithm is pinned on verification (a token
//! claiming `none` or RS256 is refused), and `sub`, `exp` and `iat` are required.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use missive_store::{SessionId, UserId};

use crate::secret::Secret;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user id, as a string (RFC 7519 makes `sub` a string).
    sub: String,
    /// The session the token belongs to: ending the session ends the token.
    sid: SessionId,
    iat: i64,
    exp: i64,
    /// Both `missive`: a token signed with the same key by another service (say, a seed
    /// still running with the old `SECRET_KEY`) is not ours.
    iss: String,
    aud: String,
}

const ISSUER: &str = "missive";
/// Clock difference tolerated between instances, on `exp`, `nbf` and `iat`.
const CLOCK_LEEWAY_SECS: u64 = 5;

/// Who a valid access token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenSubject {
    pub user_id: UserId,
    pub session_id: SessionId,
}

pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

/// A freshly signed access token and how long it lives.
pub struct IssuedToken {
    pub token: String,
    pub expires_in: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Forged, malformed, expired or otherwise unusable.
    Invalid,
}

impl Tokens {
    pub fn new(secret: &Secret, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["sub", "exp", "iat", "iss", "aud"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[ISSUER]);
        validation.leeway = CLOCK_LEEWAY_SECS;
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            ttl,
        }
    }

    pub fn issue(&self, subject: TokenSubject) -> IssuedToken {
        let now = chrono::Utc::now().timestamp();
        let ttl = self.ttl.as_secs();
        let claims = Claims {
            sub: subject.user_id.to_string(),
            sid: subject.session_id,
            iat: now,
            exp: now + i64::try_from(ttl).unwrap_or(i64::MAX / 2),
            iss: ISSUER.into(),
            aud: ISSUER.into(),
        };
        // Signing with an HMAC key cannot fail; the fallback only keeps this path panic-free.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default();
        IssuedToken {
            token,
            expires_in: ttl,
        }
    }

    /// The user and session a valid token names.
    pub fn verify(&self, token: &str) -> Result<TokenSubject, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        // A token issued in the future was not issued by us (or a clock is badly wrong).
        let now = chrono::Utc::now().timestamp();
        if data.claims.iat > now.saturating_add(CLOCK_LEEWAY_SECS as i64) {
            return Err(TokenError::Invalid);
        }
        let user_id = UserId(data.claims.sub.parse().map_err(|_| TokenError::Invalid)?);
        Ok(TokenSubject {
            user_id,
            session_id: data.claims.sid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&Secret::new("k".repeat(32)), Duration::from_secs(600))
    }

    #[test]
    fn an_issued_token_verifies_to_its_user() {
        let tokens = tokens();
        let subject = TokenSubject {
            user_id: UserId(42),
            session_id: SessionId(7),
        };
        let issued = tokens.issue(subject);
        assert_eq!(issued.expires_in, 600);
        assert_eq!(tokens.verify(&issued.token), Ok(subject));
    }

    #[test]
    fn a_token_signed_with_another_key_is_refused() {
        let other = Tokens::new(&Secret::new("x".repeat(32)), Duration::from_secs(600));
        assert_eq!(
            tokens().verify(
                &other
                    .issue(TokenSubject {
                        user_id: UserId(1),
                        session_id: SessionId(1)
                    })
                    .token
            ),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn an_expired_token_is_refused() {
        let tokens = tokens();
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "1".into(),
            sid: SessionId(1),
            iss: ISSUER.into(),
            aud: ISSUER.into(),
            iat: now - 7200,
            exp: now - 3600,
        };
        let key = EncodingKey::from_secret("k".repeat(32).as_bytes());
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert_eq!(tokens.verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_issued_or_valid_only_in_the_future_is_refused() {
        let now = chrono::Utc::now().timestamp();
        let key = EncodingKey::from_secret("k".repeat(32).as_bytes());
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        let claims = |iat: i64| {
            serde_json::json!({"sub": "1", "sid": 1, "iss": ISSUER, "aud": ISSUER,
                               "iat": iat, "exp": now + 7200})
        };
        assert!(tokens().verify(&sign(claims(now))).is_ok());
        assert_eq!(
            tokens().verify(&sign(claims(now + 3600))),
            Err(TokenError::Invalid)
        );
        let mut not_yet = claims(now);
        not_yet["nbf"] = (now + 3600).into();
        assert_eq!(tokens().verify(&sign(not_yet)), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_for_another_audience_is_refused_even_with_the_right_key() {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "1".into(),
            sid: SessionId(1),
            iss: "chat-service".into(),
            aud: "chat-service".into(),
            iat: now,
            exp: now + 600,
        };
        let key = EncodingKey::from_secret("k".repeat(32).as_bytes());
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert_eq!(tokens().verify(&token), Err(TokenError::Invalid));
    }

    #[test]
    fn another_algorithm_is_refused_even_with_the_right_key() {
        let claims = Claims {
            sub: "1".into(),
            sid: SessionId(1),
            iss: ISSUER.into(),
            aud: ISSUER.into(),
            iat: 0,
            exp: i64::MAX / 2,
        };
        let key = EncodingKey::from_secret("k".repeat(32).as_bytes());
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &key).unwrap();
        assert_eq!(tokens().verify(&token), Err(TokenError::Invalid));
        // An unsigned token ("alg": "none").
        let unsigned =
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiaWF0IjowLCJleHAiOjk5OTk5OTk5OTl9.";
        assert_eq!(tokens().verify(unsigned), Err(TokenError::Invalid));
    }
}
