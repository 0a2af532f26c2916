//! Accounts: registering, logging in, changing one's name or password, finding users. One
//! user store and one password policy for every face.

use missive_store::prelude::*;
use missive_store::{AccountChanges, ConflictKind, NewUser, SessionId, StoreError, User, UserId};

use super::domain::{Email, Password, Username, parse_full_name};
use super::input::{AllValid, Invalid};
use super::{Core, CoreError, NewSession, Opened};
use crate::cache::{EPOCH, UserDto, user_gen, user_key};

pub struct NewAccount {
    /// `None` for the message service's registration, which has no username: one is derived
    /// from the e-mail address.
    pub username: Option<Username>,
    pub email: Email,
    pub password: Password,
    pub full_name: Option<String>,
}

impl NewAccount {
    /// Validates a registration form, reporting every bad field at once. A form without a
    /// username field passes `None`; without a name field, `None` for `full_name`.
    pub fn parse(
        username: Option<&str>,
        email: &str,
        password: &str,
        full_name: Option<String>,
    ) -> Result<Self, Invalid> {
        let (username, email, password, full_name) = (
            username.map(Username::parse).transpose(),
            Email::parse(email),
            Password::parse(password),
            parse_full_name(full_name),
        )
            .all_valid()?;
        Ok(Self {
            username,
            email,
            password,
            full_name,
        })
    }
}

/// Which identifier a login form carries.
pub enum LoginName<'a> {
    Email(&'a str),
    Username(&'a str),
}

/// How many derived usernames to try before giving up (the later ones are random).
const DERIVE_ATTEMPTS: u32 = 8;

impl Core {
    /// Creates an account and logs it in: its first session.
    pub async fn register_and_log_in(
        &self,
        account: NewAccount,
        session: NewSession<'_>,
    ) -> Result<(User, Opened), CoreError> {
        let user = self.register(account).await?;
        let opened = self.open_session(&user, session).await?;
        Ok((user, opened))
    }

    /// Creates an account; `Taken(Username | Email)` when either is in use.
    pub async fn register(&self, account: NewAccount) -> Result<User, CoreError> {
        let password_hash = self.0.passwords.hash(account.password.expose()).await?;
        let mut new_user = NewUser {
            username: String::new(),
            email: account.email.as_str().to_owned(),
            full_name: account.full_name,
            password_hash,
        };
        let Some(username) = account.username else {
            for attempt in 0..DERIVE_ATTEMPTS {
                new_user.username =
                    Username::derive_from_email(&account.email, attempt).into_inner();
                match self.store().create_user(new_user.clone()).await {
                    Err(StoreError::Conflict(ConflictKind::Username)) => continue,
                    written => return self.commit(written).await,
                }
            }
            tracing::error!("could not derive a free username");
            return Err(CoreError::Internal);
        };
        new_user.username = username.into_inner();
        let written = self.store().create_user(new_user).await;
        self.commit(written).await
    }

    /// Opens a session for the user whose credentials these are; `InvalidCredentials`
    /// otherwise. An unknown account costs the same time as a wrong password, and is
    /// answered the same way.
    pub async fn log_in(
        &self,
        name: LoginName<'_>,
        password: &str,
        session: NewSession<'_>,
    ) -> Result<(User, Opened), CoreError> {
        let user = match name {
            LoginName::Email(email) => self.store().login_by_email(email.trim()).await?,
            LoginName::Username(username) => self.store().login_by_username(username).await?,
        };
        let stored = user.as_ref().map(|u| u.password_hash.as_str());
        if !self.0.passwords.verify(password, stored).await? {
            return Err(CoreError::InvalidCredentials);
        }
        let mut user = user.ok_or(CoreError::InvalidCredentials)?;
        let written = self.store().touch_user(user.id).await;
        user.last_active_at = self.commit(written).await?;
        let opened = self.open_session(&user, session).await?;
        Ok((user, opened))
    }

    /// Changes the display name (`Some(None)` clears it) and/or the password, which needs
    /// the current one and ends every other session. Checked in full before anything is
    /// written: a refused change changes nothing.
    pub async fn update_account(
        &self,
        user: &User,
        keep_session: SessionId,
        full_name: Option<Option<String>>,
        password: Option<(String, Password)>,
    ) -> Result<User, CoreError> {
        let new_hash = match password {
            None => None,
            Some((current, new)) => {
                if !self.check_password(user, &current).await? {
                    return Err(CoreError::CurrentPasswordIncorrect);
                }
                Some(self.0.passwords.hash(new.expose()).await?)
            }
        };
        let changes = AccountChanges {
            full_name,
            password: new_hash.map(|hash| (hash, Some(keep_session))),
        };
        let written = self.store().update_account(user.id, changes).await;
        self.commit(written).await
    }

    /// Whether `password` is `user`'s current password. The hash is read from the database:
    /// the `user` at hand may come from the cache, which never holds password hashes.
    async fn check_password(&self, user: &User, password: &str) -> Result<bool, CoreError> {
        let fresh = self.store().user_by_email(&user.email).await?;
        let stored = fresh
            .as_ref()
            .filter(|fresh| fresh.id == user.id)
            .map(|fresh| fresh.password_hash.as_str());
        Ok(self.0.passwords.verify(password, stored).await?)
    }

    /// A user by id (cached; without the password hash).
    pub async fn user(&self, id: UserId) -> Result<User, CoreError> {
        let found = crate::cache::read_through(
            self.cache(),
            user_key(id),
            vec![EPOCH.to_owned(), user_gen(id)],
            |user: &UserDto| user.id() == id,
            || async { Ok(self.store().user_by_id(id).await?.map(UserDto::from)) },
        )
        .await?;
        found.map(User::from).ok_or(CoreError::NotFound)
    }

    /// Deletes the account (see `UserStore::delete_user` for what stays). It first leaves
    /// each group as a member leaving would, so an owner's group passes on and its members
    /// hear of it; a group it was added to meanwhile is left the same way.
    pub async fn delete_user(&self, id: UserId) -> Result<(), CoreError> {
        loop {
            for group in self.store().groups_of(id).await? {
                match self.remove_member(group, id, id).await {
                    // Left (or the group went) in the meantime.
                    Ok(()) | Err(CoreError::NotFound) => {}
                    Err(err) => return Err(err),
                }
            }
            let written = self.store().delete_user(id).await;
            let deleted = written.map(|changes| (changes.is_some(), changes.unwrap_or_default()));
            if self.commit(deleted).await? {
                return Ok(());
            }
        }
    }

    /// Deletes the caller's own account, given its password.
    pub async fn delete_own_account(&self, user: &User, password: &str) -> Result<(), CoreError> {
        if !self.check_password(user, password).await? {
            return Err(CoreError::CurrentPasswordIncorrect);
        }
        self.delete_user(user.id).await
    }

    /// Users whose username starts with `prefix`, ignoring case, in username order.
    pub async fn search_users(&self, prefix: &str, limit: i64) -> Result<Vec<User>, CoreError> {
        Ok(self.store().search_users(prefix, limit).await?)
    }
}
