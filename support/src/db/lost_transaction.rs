//! A guard against sqlx 0.9's SQLite driver losing count of a connection's
//! transaction, which on a full disk turns refused writes into writes that
//! answer OK and are never committed.
//!
//! sqlx counts the transactions it opened on a connection, and counts one
//! down only when its COMMIT or ROLLBACK succeeds. When the storage refuses
//! a COMMIT (SQLITE_FULL, SQLITE_IOERR), SQLite rolls the transaction back
//! by itself; the ROLLBACK that dropping the transaction sends then fails
//! ("no transaction is active"), and the count stays at one on an idle
//! connection. From then on sqlx opens every transaction on it as a
//! SAVEPOINT nested in one that is never committed: each "commits" without
//! error and nothing reaches the disk, even after space is freed (measured:
//! 28 writes answered OK, none of them there once the database was opened
//! again).
//!
//! An idle connection holds no transaction, so a count above zero is that
//! state: such a connection is closed instead of used, and the pool opens
//! a new one.

use sqlx::{Connection as _, SqliteConnection};

/// Whether the idle writer connection `conn` may be lent (see the
/// module); the writer's `SqliteConns` asks before lending it.
pub(super) async fn usable(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // The ROLLBACK of a transaction dropped without commit may still be
    // queued on the connection: a round trip lets it run first.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::debug!("closing the SQLite writer: its transaction count was lost");
        return Ok(false);
    }
    Ok(true)
}
