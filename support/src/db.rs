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
//!
//! `with_db!` hands statements the pools observed (see `observed`): the
//! handle sees every outcome, logs outages once per interval and knows
//! whether writes go through (a full disk), which readiness reports.

use std::{sync::Arc, time::Duration};

use sqlx::{
    Postgres, Sqlite,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
};
use tokio::sync::watch;

pub use conns::{
    Conns, Kind, Lease,
    postgres::{PgConns, PgLease},
    sqlite::{SqliteConns, SqliteLease},
};
pub use observed::{Backend, Observed, Tx, TxConn};
use outcomes::{Outcomes, Role};

/// How long a query waits for a pooled connection before failing; long
/// enough to ride out a burst, short enough to fail a request clearly.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// PostgreSQL connections per service instance for its statements
/// (replicas multiply this).
const PG_CONNECTIONS: u32 = 16;
/// PostgreSQL connections per service instance that LISTEN, at most: one
/// per event log it relays.
const PG_LISTENERS: u32 = 4;

/// A connected database of either kind. Cheap to clone: clones share the
/// pools and the outcomes of their statements (see [`Db::writable`]).
#[derive(Clone, Debug)]
pub struct Db {
    pools: Pools,
    outcomes: Arc<Outcomes>,
}

/// How many connections a handle's pools hold.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PoolSizes {
    /// Open, idle or in use.
    pub open: u32,
    /// Open and idle.
    pub idle: u32,
    /// The most the pools may open.
    pub max: u32,
}

/// The pools of either backend.
#[derive(Clone, Debug)]
enum Pools {
    /// SQLite: one writer connection, several readers.
    Sqlite {
        /// The only connection that writes.
        write: SqliteConns,
        /// Read-only connections.
        read: SqliteConns,
        /// The connection that checkpoints the write-ahead log (see
        /// `checkpoint`).
        checkpoint: SqliteConns,
    },
    /// PostgreSQL: one pool for every statement.
    Postgres {
        /// The connections that run statements.
        conns: PgConns,
        /// sqlx's pool, for what only it can serve (`PgListener`); it
        /// opens connections when first asked.
        listen: PgPool,
    },
}

/// The pool of one role ([`Db::writer`] or [`Db::reader`]) of either
/// backend, observed; what [`with_db!`](crate::with_db) matches on.
#[derive(Clone, Copy, Debug)]
pub enum Pooled<'a> {
    /// A SQLite pool.
    Sqlite(Observed<'a, Sqlite>),
    /// The PostgreSQL pool.
    Postgres(Observed<'a, Postgres>),
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
    /// Another process holds the SQLite file (see `sqlite`).
    #[error(
        "the SQLite database {0} is in use by another process: a service holds its file \
         for itself (stop the other one; run replicas on PostgreSQL)"
    )]
    InUse(String),
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
        let outcomes = Arc::new(Outcomes::new());
        let pools = if url.starts_with("sqlite:") {
            sqlite::open(url, &outcomes).await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options: PgConnectOptions = url.parse()?;
            Pools::Postgres {
                conns: PgConns::open(options.clone(), PG_CONNECTIONS).await?,
                listen: PgPoolOptions::new()
                    .max_connections(PG_LISTENERS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options),
            }
        } else {
            return Err(DbError::UnsupportedUrl(url.to_owned()));
        };
        match &pools {
            Pools::Sqlite { write, .. } => {
                migrations.sqlite.run(&mut *write.acquire().await?).await?
            }
            Pools::Postgres { conns, .. } => {
                migrations
                    .postgres
                    .run(&mut *conns.acquire().await?)
                    .await?
            }
        }
        Ok(Self { pools, outcomes })
    }

    /// Whether a statement over a table that grows may keep its prepared
    /// statement, and with it its plan (sqlx's `Query::persistent`). Not
    /// on PostgreSQL: a connection that prepared it while the table was
    /// (nearly) empty keeps the plan made then, a scan of the whole table,
    /// until an ANALYZE happens to replace it (measured: a relay's read of
    /// the order log took 0.63 ms at 23,000 rows, where the index reads the
    /// same rows in 0.03 ms; the reconciler's count of orders awaiting a
    /// release 3 ms). Planned at each run, it uses the index, for a round
    /// trip more: for statements off an order's path (relays' reads, the
    /// reconciler's scans, listings), whose tables grow. (The order path's
    /// statements are index lookups or inserts whatever the table's size.)
    pub fn keeps_plans(&self) -> bool {
        matches!(self.pools, Pools::Sqlite { .. })
    }

    /// Which backend this is, for logs.
    pub fn kind(&self) -> &'static str {
        match self.pools {
            Pools::Sqlite { .. } => "sqlite",
            Pools::Postgres { .. } => "postgres",
        }
    }

    /// The SQLite database's file (`None` on PostgreSQL), for the
    /// `diskSpace` health component.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match &self.pools {
            Pools::Sqlite { write, .. } => Some(write.file().to_path_buf()),
            Pools::Postgres { .. } => None,
        }
    }

    /// The database's name as OpenTelemetry's `db.system.name` has it, for
    /// the spans of statements.
    pub fn system(&self) -> &'static str {
        match self.pools {
            Pools::Sqlite { .. } => "sqlite",
            Pools::Postgres { .. } => "postgresql",
        }
    }

    /// The pool that writes (and reads what must see the latest writes),
    /// observed: its outcomes decide [`Db::writable`]. Use it through
    /// [`with_db!`](crate::with_db).
    pub fn writer(&self) -> Pooled<'_> {
        self.pooled(Role::Write)
    }

    /// The pool for reads, observed. Use it through
    /// [`with_db!`](crate::with_db).
    pub fn reader(&self) -> Pooled<'_> {
        self.pooled(Role::Read)
    }

    fn pooled(&self, role: Role) -> Pooled<'_> {
        match &self.pools {
            Pools::Sqlite { write, read, .. } => {
                let pool = if role == Role::Write { write } else { read };
                Pooled::Sqlite(Observed::<Sqlite>::new(pool, &self.outcomes, role))
            }
            Pools::Postgres { conns, .. } => {
                Pooled::Postgres(Observed::<Postgres>::new(conns, &self.outcomes, role))
            }
        }
    }

    /// A sqlx pool on the PostgreSQL database, unobserved, for what is not
    /// a statement of the service (LISTEN); `None` on SQLite. Its few
    /// connections are apart from those of the statements.
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.pools {
            Pools::Postgres { listen, .. } => Some(listen),
            Pools::Sqlite { .. } => None,
        }
    }

    /// A trivial query, for readiness checks. It is a read: it cannot see
    /// a full disk, which [`Db::writable`] does.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        crate::with_db!(self, read, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(drop))?;
        Ok(())
    }

    /// Whether writes go through: false from a write the storage refused
    /// (disk full, I/O error) until the next write that goes through. With
    /// [`Db::ping`], what readiness says of the database.
    pub fn writable(&self) -> bool {
        self.outcomes.writable()
    }

    /// [`Db::writable`] as it changes, for what reports it (the gRPC health
    /// service).
    pub fn watch_writable(&self) -> watch::Receiver<bool> {
        self.outcomes.watch_writable()
    }

    /// What `/metrics` shows of this database (see `stats`).
    pub(crate) fn stats(&self) -> &stats::DbStats {
        &self.outcomes.metrics
    }

    /// The pools' connections, summed over every pool of the handle.
    pub(crate) fn pool_sizes(&self) -> PoolSizes {
        match &self.pools {
            Pools::Sqlite {
                write,
                read,
                checkpoint,
            } => [write.sizes(), read.sizes(), checkpoint.sizes()]
                .into_iter()
                .fold(PoolSizes::default(), |a, b| PoolSizes {
                    open: a.open + b.open,
                    idle: a.idle + b.idle,
                    max: a.max + b.max,
                }),
            Pools::Postgres { conns, .. } => conns.sizes(),
        }
    }

    /// Closes every pool, waiting for checked-out connections to return.
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite {
                write,
                read,
                checkpoint,
            } => {
                checkpoint.close().await;
                read.close().await;
                write.close().await;
            }
            Pools::Postgres { conns, listen } => {
                listen.close().await;
                conns.close().await;
            }
        }
    }
}

mod checkpoint;
mod conns;
mod lost_transaction;
mod observed;
mod outage;
mod outcomes;
mod sqlite;
pub(crate) mod stats;

/// Whether `e` says the database cannot serve now: it could not be
/// reached or the connection was lost (an outage, a restart, a full
/// connection table, a lock held too long), it ran out of a resource, or
/// its storage refuses writes (disk full, I/O error). Such a request did
/// nothing wrong and may succeed if retried later, so services answer it
/// with UNAVAILABLE / 503 rather than INTERNAL / 500. When it came from a
/// statement of a [`Db`], the handle has logged it already, once per
/// interval (see [`crate::failure_log`]).
///
/// Anything else (a constraint violated, a bad query, a value that does not
/// decode) is a bug or a bad request, and retrying would not help.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    outage::classify(e).is_some()
}

/// A row limit to write into a statement's text (`LIMIT {}`), rather than
/// bind as a parameter; negative limits become 0.
///
/// SQLite reads the value bound to a `LIMIT` parameter when it plans the
/// statement, and so marks the statement to be compiled again whenever
/// that parameter is bound anew: every run of a cached statement with a
/// bound `LIMIT` was re-prepared (about 75,000 instructions, measured: a
/// tenth of an order's cost in each service, for the event-log relays'
/// reads). A literal keeps the prepared statement. Being an integer, the
/// literal cannot carry SQL; each distinct value is one cached statement,
/// and the callers' limits are constants or bounded by their settings.
pub fn limit(n: i64) -> i64 {
    n.max(0)
}

/// Runs `$body` with `$pool` bound to the pool of the right backend and role
/// (`write` or `read`; PostgreSQL has one pool for both), observed (see
/// [`Observed`]). The body is compiled once per backend, so it can use
/// `sqlx::query` generically.
#[macro_export]
macro_rules! with_db {
    ($db:expr, write, |$pool:ident| $body:expr) => {
        match $db.writer() {
            $crate::db::Pooled::Sqlite($pool) => $body,
            $crate::db::Pooled::Postgres($pool) => $body,
        }
    };
    ($db:expr, read, |$pool:ident| $body:expr) => {
        match $db.reader() {
            $crate::db::Pooled::Sqlite($pool) => $body,
            $crate::db::Pooled::Postgres($pool) => $body,
        }
    };
}

#[cfg(test)]
mod tests;
