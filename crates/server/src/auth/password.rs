//! Argon2id password hashes, computed on the blocking pool so they never stall the async
//! workers, with a bound on how many run at once (each takes ~19 MiB and a core).

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::error::ApiError;

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// A real hash of a random password. Logins for unknown accounts are checked against it,
    /// so they cost the same time as a wrong password and reveal nothing.
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub async fn new() -> Result<Self, ApiError> {
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        let permits = Arc::new(Semaphore::new(parallel));
        let random: [u8; 24] = rand::random();
        let dummy_hash = run_blocking(&permits, move || hash(&random)).await??;
        Ok(Self {
            permits,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The PHC string (`$argon2id$v=19$...`) for a new password.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = password.as_bytes().to_vec();
        run_blocking(&self.permits, move || hash(&password)).await?
    }

    /// Whether `password` matches `stored`; `None` checks against the dummy hash and is always
    /// false, taking the same time as a real check.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.as_bytes().to_vec();
        let matched = run_blocking(&self.permits, move || {
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(&password, &parsed)
                    .is_ok()
            })
        })
        .await?;
        Ok(known && matched)
    }
}

fn hash(password: &[u8]) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing failed");
            ApiError::Internal
        })
}

async fn run_blocking<T: Send + 'static>(
    permits: &Semaphore,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _permit = permits.acquire().await.map_err(|_| ApiError::Internal)?;
    tokio::task::spawn_blocking(work).await.map_err(|err| {
        tracing::error!(error = %err, "password task failed");
        ApiError::Internal
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let passwords = Passwords::new().await.unwrap();
        let hash = passwords.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            passwords
                .verify("correct horse", Some(&hash))
                .await
                .unwrap()
        );
        assert!(!passwords.verify("wrong horse", Some(&hash)).await.unwrap());
        assert!(!passwords.verify("correct horse", None).await.unwrap());
    }
}
