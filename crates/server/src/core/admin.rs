//! What an administrator does to accounts (the `missive user` and `missive session`
//! commands): the same rules, cache retirements and doorbell rings as the API's use cases.

use missive_store::prelude::*;
use missive_store::{Account, AccountChanges, UserId};

use super::domain::Password;
use super::{Core, CoreError};

impl Core {
    /// One account with its standing (`NotFound` once deleted).
    pub async fn account(&self, id: UserId) -> Result<Account, CoreError> {
        self.store().account(id).await?.ok_or(CoreError::NotFound)
    }

    /// The account with this id, or else with this username (ignoring case).
    pub async fn find_account(&self, name: &str) -> Result<Account, CoreError> {
        if let Ok(id) = name.parse::<i64>() {
            match self.account(UserId(id)).await {
                Err(CoreError::NotFound) => {}
                found => return found,
            }
        }
        let user = self.store().user_by_username(name).await?;
        self.account(user.ok_or(CoreError::NotFound)?.id).await
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
