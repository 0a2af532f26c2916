//! Injected database faults, for tests only (the `testing` feature): every call of a
//! store passes [`SqlStore::fault_point`](crate::SqlStore) first, so one switch makes the
//! whole store behave as if its database were down, broken or slow, whichever method is
//! called.

use std::sync::Mutex;
use std::time::Duration;

/// What the next statements meet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    #[default]
    None,
    /// Every store call fails as it does when no connection can be had.
    Down,
    /// Every store call panics (with a message no answer may repeat).
    Panic,
    /// Every store call waits this long before it runs.
    Slow(Duration),
}

#[derive(Debug, Default)]
pub struct Faults(Mutex<Fault>);

impl Faults {
    pub fn set(&self, fault: Fault) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fault;
    }

    fn get(&self) -> Fault {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) async fn check(&self) -> Result<(), sqlx::Error> {
        match self.get() {
            Fault::None => Ok(()),
            Fault::Down => Err(sqlx::Error::PoolTimedOut),
            Fault::Panic => panic!("injected fault: secret internal detail postgres://x:y@z"),
            Fault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
        }
    }
}
