//! What `Observed` needs of each backend: where its connections come
//! from and how its transactions begin and end.

use std::{fmt, future, ops::DerefMut};

use sqlx::{
    AssertSqlSafe, Database, Error, Executor as _, Postgres, SqlSafeStr as _, SqlStr, Sqlite,
};
use sqlx_core::transaction::TransactionManager as _;

use crate::db::conns::{
    postgres::{PgConns, PgLease, PgState},
    sqlite::{SqliteConns, SqliteLease, SqliteTransaction},
};

/// The backends a [`Db`](super::Db) holds, with where their connections
/// come from, how their transactions are run, and what observing their
/// statements needs to know of them.
pub trait Backend: Database {
    /// What lends this backend's connections.
    type Pool: Send + Sync + fmt::Debug;
    /// A lent connection; it goes back when dropped.
    type Lease: DerefMut<Target = Self::Connection> + Send;

    /// A connection of `pool`, once one is free.
    fn acquire(pool: &Self::Pool) -> impl Future<Output = Result<Self::Lease, Error>> + Send;

    /// Begins a transaction on `conn`, or arranges for its first
    /// statement to (see [`Backend::in_transaction`]).
    fn begin(conn: &mut Self::Lease) -> impl Future<Output = Result<(), Error>> + Send;

    /// The text that runs `sql` in the transaction [`Backend::begin`]
    /// began on `conn`.
    fn in_transaction(conn: &mut Self::Lease, sql: SqlStr) -> SqlStr;

    /// Commits the transaction on `conn`.
    fn commit(conn: &mut Self::Lease) -> impl Future<Output = Result<(), Error>> + Send;

    /// Rolls the transaction on `conn` back.
    fn rollback(conn: &mut Self::Lease) -> impl Future<Output = Result<(), Error>> + Send;

    /// The transaction on `conn` was dropped while open (its task was
    /// cancelled, or it failed): it is rolled back before the
    /// connection's next statement.
    fn abandon(conn: &mut Self::Lease);

    /// A statement outside a transaction is about to run on `conn`, or
    /// something on it failed: until [`Backend::trust`], the pool does not
    /// take it back as it is.
    fn doubt(conn: &mut Self::Lease);

    /// The statement outside a transaction that [`Backend::doubt`] was
    /// called for ran to its end.
    fn trust(conn: &mut Self::Lease);

    /// Rows that the statement behind `result` inserted, updated or deleted.
    fn rows_changed(result: &Self::QueryResult) -> u64;
}

/// SQLite's transactions are begun and ended by statements of our own
/// rather than by sqlx's transaction manager, which hands each BEGIN and
/// COMMIT to the connection's thread as a command of its own and waits
/// for the thread to see its answer taken (two extra thread hand-offs per
/// transaction; measured, bench/README.md). `BEGIN` instead goes in front
/// of the transaction's first statement, one hand-off for both, and
/// `COMMIT` is a statement like any other.
impl Backend for Sqlite {
    /// Connections of our own (see `conns`): no ping on their return.
    type Pool = SqliteConns;
    type Lease = SqliteLease;

    fn acquire(pool: &SqliteConns) -> impl Future<Output = Result<SqliteLease, Error>> + Send {
        pool.acquire()
    }

    fn begin(conn: &mut SqliteLease) -> impl Future<Output = Result<(), Error>> + Send {
        conn.state = SqliteTransaction::Pending;
        future::ready(Ok(()))
    }

    fn in_transaction(conn: &mut SqliteLease, sql: SqlStr) -> SqlStr {
        if conn.state != SqliteTransaction::Pending {
            return sql;
        }
        conn.state = SqliteTransaction::Begun;
        AssertSqlSafe(format!("BEGIN; {}", sql.as_str())).into_sql_str()
    }

    fn commit(conn: &mut SqliteLease) -> impl Future<Output = Result<(), Error>> + Send {
        end_sqlite_transaction(conn, "COMMIT")
    }

    fn rollback(conn: &mut SqliteLease) -> impl Future<Output = Result<(), Error>> + Send {
        end_sqlite_transaction(conn, "ROLLBACK")
    }

    fn abandon(_: &mut SqliteLease) {
        // Nothing to do now: a lease that comes back with its transaction
        // still begun is rolled back before it is lent again
        // (`SqliteConns`), and one only pending never began.
    }

    // A SQLite connection cannot hang up, and its commands are a queue:
    // whatever a borrower left running finishes before the next one's.
    fn doubt(_: &mut SqliteLease) {}

    fn trust(_: &mut SqliteLease) {}

    fn rows_changed(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

/// Runs `end` (COMMIT or ROLLBACK) on `conn`, unless no statement began
/// the transaction. On failure the transaction stays open, for
/// [`Backend::abandon`].
async fn end_sqlite_transaction(conn: &mut SqliteLease, end: &'static str) -> Result<(), Error> {
    if conn.state == SqliteTransaction::Begun {
        (&mut **conn).execute(end).await?;
    }
    conn.state = SqliteTransaction::None;
    Ok(())
}

impl Backend for Postgres {
    /// Connections of our own (see `conns`): one that comes back clean is
    /// not pinged; one in doubt is, before anybody else may have it.
    type Pool = PgConns;
    type Lease = PgLease;

    fn acquire(pool: &PgConns) -> impl Future<Output = Result<PgLease, Error>> + Send {
        pool.acquire()
    }

    fn begin(conn: &mut PgLease) -> impl Future<Output = Result<(), Error>> + Send {
        <Self as Database>::TransactionManager::begin(conn, None)
    }

    fn in_transaction(_: &mut Self::Lease, sql: SqlStr) -> SqlStr {
        sql
    }

    fn commit(conn: &mut Self::Lease) -> impl Future<Output = Result<(), Error>> + Send {
        <Self as Database>::TransactionManager::commit(conn)
    }

    fn rollback(conn: &mut Self::Lease) -> impl Future<Output = Result<(), Error>> + Send {
        <Self as Database>::TransactionManager::rollback(conn)
    }

    fn abandon(conn: &mut PgLease) {
        // Queued; the connection comes back in doubt, so the pool sends it
        // at once.
        <Self as Database>::TransactionManager::start_rollback(conn);
        conn.state = PgState::InDoubt;
    }

    fn doubt(conn: &mut PgLease) {
        conn.state = PgState::InDoubt;
    }

    fn trust(conn: &mut PgLease) {
        conn.state = PgState::Clean;
    }

    fn rows_changed(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}
