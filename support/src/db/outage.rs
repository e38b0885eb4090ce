//! Which database errors are outages (the request was fine; retry later)
//! rather than bugs or bad requests, and which kind of outage: the kind
//! decides how loudly it is logged and whether readiness goes down.

use sqlx::{
    error::DatabaseError as _,
    postgres::{PgDatabaseError, PgSeverity},
    sqlite::SqliteError,
};

/// An error that says the database cannot serve now, not that the request
/// or the code is wrong. Services answer it 503 / UNAVAILABLE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outage {
    /// The database could not be reached, the connection was lost, the
    /// pool had no connection free in time, a lock was held too long, or
    /// the server is restarting: it passes by itself (a WARN).
    Unreachable,
    /// The server ran out of memory or hit a configured resource limit: it
    /// may pass, but an operator should look (an ERROR).
    Exhausted,
    /// The storage refuses writes: the disk is full or failing. It does not
    /// pass by itself (an ERROR), and while writes fail the service is not
    /// ready, although every read still works.
    Storage,
}

/// What kind of outage `e` is, or `None` when it is no outage (a constraint
/// violated, a bad query, a value that does not decode: retrying would not
/// help).
pub(crate) fn classify(e: &sqlx::Error) -> Option<Outage> {
    match e {
        // No connection could be had in time, or the pool is shutting down.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Some(Outage::Unreachable),
        // The socket failed, or the server went away in the middle of a
        // message (sqlx reports a cut-off message as a protocol error).
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => {
            Some(Outage::Unreachable)
        }
        // SQLite's background thread died with the connection.
        sqlx::Error::WorkerCrashed => Some(Outage::Unreachable),
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                pg_sqlstate(pg.code()).or_else(|| pg_session_ended(pg.severity()))
            } else if let Some(sqlite) = db.try_downcast_ref::<SqliteError>() {
                sqlite_code(sqlite.code().as_deref())
            } else {
                None
            }
        }
        _ => None,
    }
}

/// PostgreSQL SQLSTATEs that mean "not now" rather than "not like this".
///
/// All of class 53 (insufficient resources) is an outage: disk full, out of
/// memory, too many connections, a configured limit. None of them says the
/// request is wrong, and each can clear (space or memory freed, connections
/// closed), so the client is told to retry. Only a full disk (and class 58's
/// I/O error) is a storage outage; the others are not the storage's doing.
fn pg_sqlstate(code: &str) -> Option<Outage> {
    match code {
        "53100" // disk_full
        | "58030" // io_error
        => Some(Outage::Storage),
        "53300" // too_many_connections: others' connections, soon closed
        | "57P01" // admin_shutdown: the server is stopping
        | "57P02" // crash_shutdown: another backend crashed
        | "57P03" // cannot_connect_now: starting up or shutting down
        => Some(Outage::Unreachable),
        // Class 08: connection exception (refused, lost, …).
        _ if code.starts_with("08") => Some(Outage::Unreachable),
        // The rest of class 53: out of memory, a configured limit.
        _ if code.starts_with("53") => Some(Outage::Exhausted),
        _ => None,
    }
}

/// A PostgreSQL error that ended the session (FATAL, PANIC) whatever its
/// SQLSTATE: the server refused or dropped the connection, which says
/// nothing against the request. One seen on a full disk: a new connection
/// fails with `XX000 could not write init file` (the backend cannot write
/// its catalog cache file into the database's directory).
fn pg_session_ended(severity: PgSeverity) -> Option<Outage> {
    matches!(severity, PgSeverity::Fatal | PgSeverity::Panic).then_some(Outage::Unreachable)
}

/// SQLite result codes that are outages, by primary code (the low byte of
/// the extended code, which sqlx reports as a decimal string): SQLITE_BUSY
/// (5) and SQLITE_LOCKED (6), another connection holding the lock longer
/// than the busy timeout (e.g. SQLITE_BUSY_SNAPSHOT = 517); SQLITE_NOMEM
/// (7); SQLITE_IOERR (10, with its extended codes, e.g. SQLITE_IOERR_WRITE
/// = 778) and SQLITE_FULL (13), the disk.
fn sqlite_code(code: Option<&str>) -> Option<Outage> {
    match code?.parse::<i32>().ok()? & 0xff {
        5 | 6 => Some(Outage::Unreachable),
        7 => Some(Outage::Exhausted),
        10 | 13 => Some(Outage::Storage),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
