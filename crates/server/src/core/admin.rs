//! What an administrator does to accounts (the `missive user` and `missive session`
//! commands): the same rules, cache retirements and doorbell rings as the API's use cases.

use missive_store::prelude::*;
use missive_store::{Account, AccountChanges, UserId};

use super::domain::Password;
use super::{Core, CoreError};

/// Why a name given to a command found no one account.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("no such user")]
    NoSuchUser,
    #[error("both a user id and another user's username")]
    Ambiguous,
    #[error(transparent)]
    Failed(#[from] CoreError),
}

impl From<missive_store::StoreError> for FindError {
    fn from(err: missive_store::StoreError) -> Self {
        Self::Failed(err.into())
    }
}

impl Core {
    /// One account with its standing (`NotFound` once deleted).
    pub async fn account(&self, id: UserId) -> Result<Account, CoreError> {
        self.store().account(id).await?.ok_or(CoreError::NotFound)
    }

    /// The account `name` names: `id:N` is the id N; otherwise a username; a plain number
    /// is an id or a username, and refused (`Ambiguous`) when it is both, for different
    /// accounts (a command that deletes must never pick the wrong one).
    pub async fn find_account(&self, name: &str) -> Result<Account, FindError> {
        if let Some(id) = name.strip_prefix("id:") {
            let id = id.parse::<i64>().map_err(|_| FindError::NoSuchUser)?;
            return self.account(UserId(id)).await.map_err(FindError::from);
        }
        let by_name = match self.store().user_by_username(name).await? {
            Some(user) => Some(self.account(user.id).await?),
            None => None,
        };
        let by_id = match name.parse::<i64>() {
            Ok(id) => match self.account(UserId(id)).await {
                Ok(account) => Some(account),
                Err(CoreError::NotFound) => None,
                Err(err) => return Err(err.into()),
            },
            Err(_) => None,
        };
        match (by_id, by_name) {
            (Some(a), Some(b)) if a.user.id != b.user.id => Err(FindError::Ambiguous),
            (Some(account), _) | (None, Some(account)) => Ok(account),
            (None, None) => Err(FindError::NoSuchUser),
        }
    }

    /// Accounts in id order, after `after`.
    pub async fn accounts(&self, after: UserId, limit: i64) -> Result<Vec<Account>, CoreError> {
        Ok(self.store().accounts(after, limit).await?)
    }

    /// Disables an account, ending every session of it at once, or enables it again.
    pub async fn set_disabled(&self, id: UserId, disabled: bool) -> Result<(), CoreError> {
        let written = self.store().set_disabled(id, disabled).await;
        self.commit(written.map(|changes| ((), changes))).await
    }

    /// Sets a new password and ends every session of the account.
    pub async fn reset_password(&self, id: UserId, password: Password) -> Result<(), CoreError> {
        let hash = self.0.passwords.hash(password.expose()).await?;
        let changes = AccountChanges {
            full_name: None,
            password: Some((hash, None)),
        };
        let written = self.store().update_account(id, changes).await;
        self.commit(written).await.map(drop)
    }
}
