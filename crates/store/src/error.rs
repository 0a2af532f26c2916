//! The store's closed error type. Callers map it exhaustively; nothing driver-specific leaks.

/// Which uniqueness rule a write broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    Username,
    Email,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A conversation that takes no new messages (its other member deleted their account).
    #[error("conversation closed")]
    Closed,
    #[error("conflict: {0:?} already taken")]
    Conflict(ConflictKind),
    /// The database cannot be reached or is overloaded right now; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => Self::NotFound,
            // A connection that cannot be made, or that breaks mid-conversation (a server that
            // closes the socket during the handshake shows up as a protocol error).
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(err),
            sqlx::Error::Database(db) if is_transient(db.as_ref()) => Self::Unavailable(err),
            _ => Self::Other(err),
        }
    }
}

/// Errors that mean "busy, overloaded or going away; try again", not "your query is wrong".
/// SQLite: BUSY (5) and LOCKED (6), including their extended codes (the low byte is the
/// primary code), left after the busy timeout. PostgreSQL: the connection-exception class
/// (08xxx), shutdown and start-up (57P01..57P03), too many connections (53300), serialization
/// failure and deadlock (40001, 40P01), and a cancelled statement (57014).
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        return code
            .parse::<i32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6));
    }
    code.starts_with("08")
        || matches!(
            code.as_ref(),
            "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" | "57014"
        )
}

/// True when `err` is a unique-constraint violation. Checked by kind, not by constraint name,
/// because SQLite does not report names for expression indexes.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
