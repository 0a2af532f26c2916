//! Registering and logging in, shared by every face: one user store, one password policy.

use missive_store::{ConflictKind, NewUser, StoreError, User};

use crate::domain::{Email, Password, Username};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

pub struct NewAccount {
    /// `None` for the message service's registration, which has no username: one is derived
    /// from the e-mail address.
    pub username: Option<Username>,
    pub email: Email,
    pub password: Password,
    pub full_name: Option<String>,
}

pub enum RegisterError {
    Taken(ConflictKind),
    Failed(ApiError),
}

/// The answer to a refused login on every face: it never says which part was wrong.
pub const INVALID_CREDENTIALS: ApiError = ApiError::Unauthorized {
    code: ErrorCode::InvalidCredentials,
    detail: "Invalid credentials",
};

impl RegisterError {
    /// The Chat Service's answers (409), which `/v1` shares. The Message Service answers a
    /// taken e-mail its own way.
    pub fn into_conflict(self) -> ApiError {
        match self {
            Self::Taken(ConflictKind::Username) => ApiError::Conflict {
                code: ErrorCode::UsernameTaken,
                detail: "Username already exists",
            },
            Self::Taken(ConflictKind::Email) => ApiError::Conflict {
                code: ErrorCode::EmailTaken,
                detail: "Email already exists",
            },
            Self::Failed(err) => err,
        }
    }
}

impl From<ApiError> for RegisterError {
    fn from(err: ApiError) -> Self {
        Self::Failed(err)
    }
}

/// How many derived usernames to try before giving up (the later ones are random).
const DERIVE_ATTEMPTS: u32 = 8;

pub async fn register(state: &AppState, account: NewAccount) -> Result<User, RegisterError> {
    let password_hash = state.passwords().hash(account.password.expose()).await?;
    let mut new_user = NewUser {
        username: String::new(),
        email: account.email.as_str().to_owned(),
        full_name: account.full_name,
        password_hash,
    };
    let Some(username) = account.username else {
        for attempt in 0..DERIVE_ATTEMPTS {
            new_user.username = Username::derive_from_email(&account.email, attempt).into_inner();
            match state.store().create_user(new_user.clone()).await {
                Err(StoreError::Conflict(ConflictKind::Username)) => continue,
                other => return finish(other),
            }
        }
        tracing::error!("could not derive a free username");
        return Err(RegisterError::Failed(ApiError::Internal));
    };
    new_user.username = username.into_inner();
    finish(state.store().create_user(new_user).await)
}

fn finish(created: Result<User, StoreError>) -> Result<User, RegisterError> {
    match created {
        Ok(user) => Ok(user),
        Err(StoreError::Conflict(kind)) => Err(RegisterError::Taken(kind)),
        Err(err) => Err(RegisterError::Failed(err.into())),
    }
}

/// Which identifier a login form carries.
pub enum LoginName<'a> {
    Email(&'a str),
    Username(&'a str),
}

/// The user whose credentials these are, or `None`. An unknown account costs the same time
/// as a wrong password, and the caller answers both the same way.
pub async fn login(
    state: &AppState,
    name: LoginName<'_>,
    password: &str,
) -> Result<Option<User>, ApiError> {
    let user = match name {
        LoginName::Email(email) => state.store().user_by_email(email.trim()).await?,
        LoginName::Username(username) => state.store().user_by_username(username).await?,
    };
    let stored = user.as_ref().map(|u| u.password_hash.as_str());
    if !state.passwords().verify(password, stored).await? {
        return Ok(None);
    }
    let Some(mut user) = user else {
        return Ok(None);
    };
    user.last_active_at = state.store().touch_user(user.id).await?;
    Ok(Some(user))
}

/// Whether `password` is `user`'s current password. The hash is read from the database: the
/// `user` at hand may come from the cache, which never holds password hashes.
pub async fn check_password(
    state: &AppState,
    user: &User,
    password: &str,
) -> Result<bool, ApiError> {
    let fresh = state.store().user_by_email(&user.email).await?;
    let stored = fresh
        .as_ref()
        .filter(|fresh| fresh.id == user.id)
        .map(|fresh| fresh.password_hash.as_str());
    state.passwords().verify(password, stored).await
}
