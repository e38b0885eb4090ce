//! One database handle for SQLite (the embedded default) and PostgreSQL
//! (deployments, replicas), chosen at run time from the URL.
//!
//! Why an enum and not `sqlx::Any`: `Any` cannot carry SQLite's connection
//! options (WAL, busy timeout) and converts every value at run time. Both
//! backends accept the same SQL here (`$n` placeholders, `RETURNING`,
//! `ON CONFLICT`), so each store method is written once and compiled for both
//! pools by the [`with_db!`](crate::with_db) macro.
//!
//! SQLite allows one writer at a time. Rather than letting several pooled
//! connections fight for the write lock (SQLite's busy handler sleeps for
//! milliseconds, which wrecks latency), writes go through a pool of exactly
//! one connection, and reads through a separate read-only pool, which WAL lets
//! run beside the writer.

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    error::DatabaseError as _,
    migrate::Migrator,
    postgres::{PgDatabaseError, PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteError, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
        SqliteSynchronous,
    },
};

/// How long a query waits for a pooled connection before failing; long
/// enough to ride out a burst, short enough to fail a request clearly.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite readers beside the single writer.
const SQLITE_READERS: u32 = 4;
/// PostgreSQL connections per service instance (replicas multiply this).
const PG_CONNECTIONS: u32 = 16;

/// A connected database of either kind.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite: one writer connection, several readers.
    Sqlite {
        /// The only connection that writes.
        write: SqlitePool,
        /// Read-only connections.
        read: SqlitePool,
        /// The connection that checkpoints the write-ahead log (see
        /// `checkpoint`).
        checkpoint: SqlitePool,
    },
    /// PostgreSQL: one pool for everything.
    Postgres(PgPool),
}

/// The migrations of one service, one set per backend (their DDL differs).
pub struct Migrations {
    /// Migrations for SQLite.
    pub sqlite: Migrator,
    /// Migrations for PostgreSQL.
    pub postgres: Migrator,
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported DATABASE_URL {0:?}: expected sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    /// The SQLite file's directory could not be created.
    #[error("cannot create the directory for {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Opens the database at `url` and brings its schema up to date.
    pub async fn connect(url: &str, migrations: &Migrations) -> Result<Self, DbError> {
        let db = if url.starts_with("sqlite:") {
            Self::connect_sqlite(url).await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(PG_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?,
            )
        } else {
            return Err(DbError::UnsupportedUrl(url.to_owned()));
        };
        match &db {
            Db::Sqlite { write, .. } => migrations.sqlite.run(write).await?,
            Db::Postgres(pool) => migrations.postgres.run(pool).await?,
        }
        Ok(db)
    }

    async fn connect_sqlite(url: &str) -> Result<Self, DbError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode is durable against process crashes (the
            // failure the order flow must survive); FULL only adds safety
            // against power loss, at twice the commit cost (measured: 12k vs 5.3k commits/s).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        if let Some(dir) = Path::new(options.get_filename()).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // Checkpoints run beside the writer, not in it: SQLite's automatic
        // checkpoint runs inside the commit that crosses 1,000 pages of log,
        // and that commit (and every request queued behind the single
        // writer) waits the 10-20 ms it takes to copy the pages and fsync.
        // A PASSIVE checkpoint takes no write lock, so the writer goes on.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", "0")
                    // When the log restarts, its file is cut back to this.
                    .pragma("journal_size_limit", "16777216"),
            )
            .await?;
        let checkpoint = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(SQLITE_READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.read_only(true))
            .await?;
        tokio::spawn(checkpoint::run(checkpoint.clone()));
        Ok(Self::Sqlite {
            write,
            read,
            checkpoint,
        })
    }

    /// Which backend this is, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// The database's name as OpenTelemetry's `db.system.name` has it, for
    /// the spans of statements.
    pub fn system(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgresql",
        }
    }

    /// A trivial query, for readiness checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        crate::with_db!(self, read, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Closes every pool, waiting for checked-out connections to return.
    pub async fn close(&self) {
        match self {
            Db::Sqlite {
                write,
                read,
                checkpoint,
            } => {
                checkpoint.close().await;
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

mod checkpoint;

/// Whether `e` says the database could not be reached or the connection was
/// lost: an outage, a restart, a full connection table, a lock held too long.
/// Such a request did nothing wrong and may succeed if retried later, so
/// services answer it with UNAVAILABLE / 503 rather than INTERNAL / 500.
///
/// Anything else (a constraint violated, a bad query, a value that does not
/// decode) is a bug or a bad request, and retrying would not help.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        // No connection could be had in time, or the pool is shutting down.
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        // The socket failed, or the server went away in the middle of a
        // message (sqlx reports a cut-off message as a protocol error).
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        // SQLite's background thread died with the connection.
        sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<PgDatabaseError>() {
                pg_sqlstate_unavailable(pg.code())
            } else if let Some(sqlite) = db.try_downcast_ref::<SqliteError>() {
                sqlite_code_unavailable(sqlite.code().as_deref())
            } else {
                false
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs that mean "not now" rather than "not like this".
fn pg_sqlstate_unavailable(code: &str) -> bool {
    // Class 08: connection exception (refused, lost, …).
    code.starts_with("08")
        || matches!(
            code,
            "57P01" // admin_shutdown: the server is stopping
                | "57P02" // crash_shutdown: another backend crashed
                | "57P03" // cannot_connect_now: starting up or shutting down
                | "53300" // too_many_connections
        )
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), including their extended codes
/// (e.g. SQLITE_BUSY_SNAPSHOT = 517): another connection holds the lock for
/// longer than the busy timeout. sqlx reports the extended code as a decimal
/// string; the primary code is its low byte.
fn sqlite_code_unavailable(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Runs `$body` with `$pool` bound to the pool of the right backend and role
/// (`write` or `read`; PostgreSQL has one pool for both). The body is
/// compiled once per backend, so it can use `sqlx::query` generically.
#[macro_export]
macro_rules! with_db {
    ($db:expr, write, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { write: $pool, .. } => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
    ($db:expr, read, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite { read: $pool, .. } => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_level_failures_are_unavailable() {
        use std::io::{Error as IoError, ErrorKind};
        let unavailable = [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(IoError::from(ErrorKind::ConnectionRefused)),
            sqlx::Error::Io(IoError::from(ErrorKind::UnexpectedEof)),
            sqlx::Error::Tls("handshake failed".into()),
            sqlx::Error::Protocol("unexpected end of message".into()),
        ];
        for e in &unavailable {
            assert!(is_unavailable(e), "{e:?}");
        }
        let not = [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("x".into()),
            sqlx::Error::Decode("bad".into()),
            sqlx::Error::InvalidArgument("bad".into()),
        ];
        for e in &not {
            assert!(!is_unavailable(e), "{e:?}");
        }
    }

    #[test]
    fn postgres_connection_sqlstates_are_unavailable() {
        for code in [
            "08000", "08003", "08006", "08001", "08P01", "57P01", "57P02", "57P03", "53300",
        ] {
            assert!(pg_sqlstate_unavailable(code), "{code}");
        }
        // Constraint violations, bad SQL, invalid text (NUL), serialization
        // failures, out of disk: not a connection problem.
        for code in [
            "23505", "23514", "42601", "22021", "40001", "53100", "57014", "5",
        ] {
            assert!(!pg_sqlstate_unavailable(code), "{code}");
        }
    }

    #[test]
    fn sqlite_busy_and_locked_are_unavailable() {
        // BUSY, LOCKED, BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT, LOCKED_SHAREDCACHE.
        for code in ["5", "6", "261", "517", "773", "262"] {
            assert!(sqlite_code_unavailable(Some(code)), "{code}");
        }
        // ERROR, READONLY, CONSTRAINT_CHECK, CONSTRAINT_UNIQUE, IOERR (a
        // failing disk is not fixed by retrying within a second).
        for code in ["1", "8", "275", "2067", "10"] {
            assert!(!sqlite_code_unavailable(Some(code)), "{code}");
        }
        assert!(!sqlite_code_unavailable(None));
        assert!(!sqlite_code_unavailable(Some("nope")));
    }

    /// Real errors from real databases, so the downcasts are proven too.
    #[cfg(feature = "testing")]
    mod real {
        use sqlx::{
            ConnectOptions, Connection, Executor, PgConnection, sqlite::SqliteConnectOptions,
        };

        use super::super::is_unavailable;
        use crate::testing::{Backend, TestDatabase};

        #[tokio::test]
        async fn a_locked_sqlite_database_is_unavailable() {
            let test_db = TestDatabase::create(Backend::Sqlite, "busy")
                .await
                .expect("sqlite");
            let options: SqliteConnectOptions = test_db.url.parse().expect("url");
            let options = options.create_if_missing(true);
            let mut holder = options.connect().await.expect("connect");
            holder.execute("BEGIN IMMEDIATE").await.expect("lock");
            let mut other = options
                .busy_timeout(std::time::Duration::ZERO)
                .connect()
                .await
                .expect("connect");
            let e = other.execute("BEGIN IMMEDIATE").await.unwrap_err();
            assert!(is_unavailable(&e), "{e:?}");
            // A constraint violation on the same backend is not.
            holder
                .execute("CREATE TABLE t (x INTEGER CHECK (x > 0))")
                .await
                .expect("create");
            let e = holder
                .execute("INSERT INTO t VALUES (0)")
                .await
                .unwrap_err();
            assert!(!is_unavailable(&e), "{e:?}");
            holder.close().await.expect("close");
            other.close().await.expect("close");
        }

        #[tokio::test]
        async fn a_terminated_postgres_connection_is_unavailable() {
            let Some(test_db) = TestDatabase::create(Backend::Postgres, "terminated").await else {
                return;
            };
            let mut victim = PgConnection::connect(&test_db.url).await.expect("connect");
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut victim)
                .await
                .expect("pid");
            let mut admin = PgConnection::connect(&test_db.url).await.expect("connect");
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(pid)
                .execute(&mut admin)
                .await
                .expect("terminate");
            let e = victim.execute("SELECT 1").await.unwrap_err();
            assert!(is_unavailable(&e), "{e:?}");
            // A NUL in text is the client's fault, not an outage.
            let e = sqlx::query("SELECT $1::text")
                .bind("a\0b")
                .execute(&mut admin)
                .await
                .unwrap_err();
            assert!(!is_unavailable(&e), "{e:?}");
            admin.close().await.expect("close");
            test_db.cleanup().await;
        }
    }
}
