//! [`SqlStore`]: the one store, on SQLite or PostgreSQL. Its methods are grouped by area in
//! traits ([`UserStore`](crate::UserStore), [`SessionStore`](crate::SessionStore),
//! [`ConversationStore`](crate::ConversationStore), [`MessageStore`](crate::MessageStore),
//! [`HistoryStore`](crate::HistoryStore), [`ReadStateStore`](crate::ReadStateStore),
//! [`GroupStore`](crate::GroupStore), [`EventStore`](crate::EventStore)), each
//! declared and implemented, with its SQL, in its own file.

use crate::pool::on_pool;
use crate::{Backend, DbPool, StoreError};

/// One page of a list, with the size of the whole list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// The SQL store: one implementation for both backends. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) pool: DbPool,
    #[cfg(feature = "testing")]
    faults: std::sync::Arc<crate::faults::Faults>,
}

impl SqlStore {
    pub fn new(pool: DbPool) -> Self {
        Self {
            pool,
            #[cfg(feature = "testing")]
            faults: Default::default(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// The pool underneath, for upkeep (WAL checkpoints) and closing at shutdown.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(drop))?;
        Ok(())
    }

    /// The switch that makes this store (and its clones) fail on purpose, for tests.
    #[cfg(feature = "testing")]
    pub fn faults(&self) -> &crate::faults::Faults {
        &self.faults
    }

    /// Passed by every store call before it runs: nothing, unless a test injected a fault.
    #[allow(clippy::unused_async)]
    pub(crate) async fn fault_point(&self) -> Result<(), sqlx::Error> {
        #[cfg(feature = "testing")]
        self.faults.check().await?;
        Ok(())
    }
}
