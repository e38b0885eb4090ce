//! SQLite's connections as [`Conns`](super::Conns) lends them.
//!
//! A connection comes back with nothing to tidy: a handle on a local file
//! cannot hang up, and a rollback queued by a dropped transaction runs on
//! the connection's thread before any later statement anyway (its
//! commands are a queue). A transaction dropped open is rolled back before
//! the connection is lent again: only the writer's transactions hold a
//! lock, and the writer is the only connection that could take it.

use std::{path::Path, time::Duration};

use sqlx::{
    ConnectOptions as _, Executor as _, Sqlite, SqliteConnection, sqlite::SqliteConnectOptions,
};

use super::{Conns, Kind, Lease};
use crate::db::lost_transaction;

/// SQLite connections of one role.
pub type SqliteConns = Conns<Sqlite>;
/// A connection lent by [`SqliteConns`].
pub type SqliteLease = Lease<Sqlite>;

/// How a role's connections are opened.
pub struct SqliteConfig {
    /// The connections' options.
    pub options: SqliteConnectOptions,
    /// The writer's guard (see `lost_transaction`): an idle connection
    /// still counted inside a transaction is closed, not lent.
    pub check_transaction: bool,
}

/// Where a lent connection's transaction stands (see `Backend for Sqlite`:
/// BEGIN, COMMIT and ROLLBACK are statements of our own).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteTransaction {
    /// None.
    #[default]
    None,
    /// Begun by the caller; the next statement begins it in SQLite.
    Pending,
    /// Begun in SQLite. A lease that comes back in this state had its
    /// transaction dropped open: it is rolled back before the connection
    /// is lent again.
    Begun,
}

impl Kind for Sqlite {
    type Conn = SqliteConnection;
    type Config = SqliteConfig;
    type State = SqliteTransaction;

    fn connect(
        config: &SqliteConfig,
    ) -> impl Future<Output = Result<SqliteConnection, sqlx::Error>> + Send {
        config.options.connect()
    }

    async fn ready(
        config: &SqliteConfig,
        conn: &mut SqliteConnection,
        state: SqliteTransaction,
        _: Duration,
    ) -> bool {
        // A transaction dropped open. Closing the connection would roll it
        // back too, but costs a new connection (a thread and a file open).
        if state == SqliteTransaction::Begun
            && let Err(e) = conn.execute("ROLLBACK").await
        {
            // The storage refused (disk full, I/O error), or SQLite had
            // already rolled back (a COMMIT the storage refused): a new
            // connection starts clean either way.
            tracing::debug!(error = %e, "rolling back an abandoned transaction failed");
            return false;
        }
        if config.check_transaction {
            return matches!(lost_transaction::usable(conn).await, Ok(true));
        }
        true
    }

    fn untidy(_: SqliteTransaction) -> bool {
        false
    }

    async fn tidy(_: &mut SqliteConnection) -> bool {
        true
    }
}

impl SqliteConns {
    /// The database's file.
    pub(crate) fn file(&self) -> &Path {
        self.config().options.get_filename()
    }
}
