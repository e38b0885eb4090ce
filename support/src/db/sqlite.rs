//! Opening a SQLite database: its settings, and the connections of each
//! role (one writer, readers beside it, a checkpointer).
//!
//! The file is held by one process: the connections use SQLite's
//! `unix-excl` VFS, which takes a lock on the whole file when the first of
//! them opens it and keeps it until the last closes. Within the process
//! nothing changes (WAL, readers beside the writer), but SQLite no longer
//! asks the kernel for a lock at every transaction: with the default VFS
//! each one took and released its locks in the log's shared-memory file by
//! `fcntl`, six to eight system calls per write and four per read, about
//! twenty per order across both services (measured with
//! `scripts/instructions-per-order`; bench/README.md). And the log's index
//! is in the process's memory instead of a `-shm` file beside the
//! database. What it costs: no other process can open the file while the
//! service runs (a second instance on the same file stops at start-up,
//! saying so; PostgreSQL is the way to run replicas), so the database is
//! read through the service, or with it stopped (docs/decisions.md).
//!
//! Over `unix-excl`, [`wal_writes`] writes each commit to the log in one
//! system call rather than two per page.

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

use super::{
    DbError, Pools, checkpoint,
    conns::sqlite::{SqliteConfig, SqliteConns},
    outcomes::Outcomes,
};

pub(super) mod wal_writes;

/// SQLite readers beside the single writer.
pub(super) const SQLITE_READERS: u32 = 4;
/// Bytes per page of a new SQLite database. Every commit writes each page
/// it changed whole to the write-ahead log, checksummed, and an order's
/// commits change a few rows of ~100-300 bytes on each of 3-6 pages: with
/// SQLite's default of 4 KiB most of what is written and checksummed is
/// other rows. (Measured: bench/README.md, "Where one order's CPU goes".)
pub(super) const SQLITE_PAGE_SIZE: u32 = 1024;
/// Bytes the write-ahead log's file is cut back to when it restarts: 64 MiB,
/// so that under steady writes the checkpointer restarts it (holding writes
/// back for a few milliseconds) every few seconds rather than every second.
pub(super) const JOURNAL_SIZE_LIMIT: u32 = 64 << 20;
/// Frames (pages) of write-ahead log past which the checkpointer makes the
/// next writer restart it (see `checkpoint`): as many as that limit holds.
pub(super) const RESTART_FRAMES: i64 = (JOURNAL_SIZE_LIMIT / SQLITE_PAGE_SIZE) as i64;

/// SQLite's result code when a lock is held elsewhere.
const SQLITE_BUSY: &str = "5";

/// Opens the SQLite database at `url` (creating it, and its directory, if
/// missing) and starts its checkpointer.
pub(super) async fn open(url: &str, outcomes: &Arc<Outcomes>) -> Result<Pools, DbError> {
    wal_writes::register().map_err(|rc| {
        DbError::Connect(sqlx::Error::Configuration(
            format!(
                "registering SQLite's VFS {} failed: code {rc}",
                wal_writes::NAME
            )
            .into(),
        ))
    })?;
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL in WAL mode is durable against process crashes (the
        // failure the order flow must survive); FULL only adds safety
        // against power loss, at twice the commit cost (measured: 12k vs 5.3k commits/s).
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        // Set before the first table is created; a database created
        // with another page size keeps it.
        .page_size(SQLITE_PAGE_SIZE)
        .vfs(wal_writes::NAME);
    let file = Path::new(options.get_filename());
    if let Some(dir) = file.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
            path: dir.display().to_string(),
            source,
        })?;
    }
    let in_use = |e: sqlx::Error| match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some(SQLITE_BUSY) => {
            DbError::InUse(file.display().to_string())
        }
        _ => DbError::Connect(e),
    };
    // Connections of our own rather than sqlx's pools, which ping each
    // connection as it comes back (see `conns`).
    //
    // Checkpoints run beside the writer, not in it: SQLite's automatic
    // checkpoint runs inside the commit that crosses 1,000 pages of log,
    // and that commit (and every request queued behind the single
    // writer) waits the 10-20 ms it takes to copy the pages and fsync.
    // A PASSIVE checkpoint takes no write lock, so the writer goes on.
    let write = SqliteConns::open(
        SqliteConfig {
            options: options
                .clone()
                .pragma("wal_autocheckpoint", "0")
                // When the log restarts, its file is cut back to this.
                .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string()),
            check_transaction: true,
        },
        1,
    )
    .await
    .map_err(in_use)?;
    let checkpoint = SqliteConns::open(
        SqliteConfig {
            options: options.clone(),
            check_transaction: false,
        },
        1,
    )
    .await?;
    // Read-only by pragma rather than by opening the file read-only: a
    // read-only handle locks the file by `fcntl` even under `unix-excl`.
    let read = SqliteConns::open(
        SqliteConfig {
            options: options.pragma("query_only", "ON"),
            check_transaction: false,
        },
        SQLITE_READERS,
    )
    .await?;
    tokio::spawn(checkpoint::run(
        checkpoint.clone(),
        write.clone(),
        outcomes.clone(),
    ));
    Ok(Pools::Sqlite {
        write,
        read,
        checkpoint,
    })
}
