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
    migrate::Migrator,
    postgres::{PgPool, PgPoolOptions},
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
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
            // against power loss, at twice the commit cost (MEASURED.md).
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
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(SQLITE_READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self::Sqlite { write, read })
    }

    /// Which backend this is, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
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
            Db::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
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
