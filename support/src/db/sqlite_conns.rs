//! SQLite connections of one role, lent to statements and transactions
//! without sqlx's pool.
//!
//! Why not `sqlx::Pool`: when one of its connections comes back, it spawns
//! a task that pings the connection before it may be lent again, and no
//! option turns that off. For SQLite a ping is a hand-off to the
//! connection's thread and back, as costly as a statement of its own: each
//! order paid five (measured with `scripts/instructions-per-order`; see
//! bench/README.md, "Where one order's CPU goes"). The ping guards against
//! a connection that hung up, which a handle on a local file cannot do, and
//! flushes a rollback queued by a dropped transaction, which the
//! connection's thread runs before any later statement anyway (its
//! commands are a queue). So a connection here goes straight back to the
//! idle list, and the next borrower's statements queue behind whatever the
//! last one left running.
//!
//! What sqlx's pool did and this keeps: at most `max` connections, opened
//! when first needed; borrowers wait in turn (a fair semaphore), at most
//! [`super::ACQUIRE_TIMEOUT`]; closing waits for every connection to come
//! back, then closes each (SQLite checkpoints and removes its log when the
//! last one closes).

use std::{
    fmt,
    ops::{Deref, DerefMut},
    path::Path,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, Ordering::Relaxed},
    },
};

use sqlx::{
    ConnectOptions as _, Connection as _, Executor as _, SqliteConnection,
    sqlite::SqliteConnectOptions,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ACQUIRE_TIMEOUT, PoolSizes, lost_transaction};

/// Up to `max` SQLite connections opened with the same options. Cheap to
/// clone: clones share the connections.
#[derive(Clone)]
pub struct SqliteConns {
    inner: Arc<Inner>,
}

struct Inner {
    options: SqliteConnectOptions,
    /// One permit per connection that may be lent at once.
    permits: Arc<Semaphore>,
    max: u32,
    /// Connections open now, lent or idle.
    open: AtomicU32,
    idle: Mutex<Vec<Idle>>,
    /// The writer's guard (see `lost_transaction`): an idle connection
    /// still counted inside a transaction is closed, not lent.
    check_transaction: bool,
}

/// An idle connection.
struct Idle {
    conn: SqliteConnection,
    /// Its last borrower dropped a transaction open: roll back first.
    abandoned: bool,
}

/// Where a lent connection's transaction stands (see `Backend for Sqlite`:
/// BEGIN, COMMIT and ROLLBACK are statements of our own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SqliteTransaction {
    /// None.
    None,
    /// Begun by the caller; the next statement begins it in SQLite.
    Pending,
    /// Begun in SQLite. A lease that comes back in this state had its
    /// transaction dropped open: it is rolled back before the connection
    /// is lent again.
    Begun,
}

impl fmt::Debug for SqliteConns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteConns")
            .field("file", &self.file())
            .field("sizes", &self.sizes())
            .finish_non_exhaustive()
    }
}

impl SqliteConns {
    /// Up to `max` connections with `options`; opens one now, so that a
    /// database that cannot be opened fails here.
    pub(crate) async fn open(
        options: SqliteConnectOptions,
        max: u32,
        check_transaction: bool,
    ) -> Result<Self, sqlx::Error> {
        let first = options.connect().await?;
        let conns = Self {
            inner: Arc::new(Inner {
                options,
                permits: Arc::new(Semaphore::new(max as usize)),
                max,
                open: AtomicU32::new(1),
                idle: Mutex::new(vec![Idle {
                    conn: first,
                    abandoned: false,
                }]),
                check_transaction,
            }),
        };
        Ok(conns)
    }

    /// A connection, idle or newly opened, once one of the `max` is free
    /// (waiting in turn, at most [`ACQUIRE_TIMEOUT`]).
    pub async fn acquire(&self) -> Result<SqliteLease, sqlx::Error> {
        tokio::time::timeout(ACQUIRE_TIMEOUT, self.lend())
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    async fn lend(&self) -> Result<SqliteLease, sqlx::Error> {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // The idle connection is in the lease while it is checked: if this
        // is cancelled meanwhile, dropping the lease puts it back as it was.
        let mut lease = SqliteLease {
            conn: None,
            transaction: SqliteTransaction::None,
            inner: Arc::clone(&self.inner),
            _permit: permit,
        };
        let idle = self.inner.idle().pop();
        if let Some(Idle { conn, abandoned }) = idle {
            lease.conn = Some(conn);
            if abandoned {
                lease.transaction = SqliteTransaction::Begun;
            }
            if self.usable(&mut lease).await {
                lease.transaction = SqliteTransaction::None;
                return Ok(lease);
            }
            // Closed instead (dropping it does).
            lease.conn = None;
            lease.transaction = SqliteTransaction::None;
            self.inner.open.fetch_sub(1, Relaxed);
        }
        lease.conn = Some(self.connect().await?);
        Ok(lease)
    }

    /// Whether the connection in `lease` may be lent, once no transaction is
    /// left open on it; if not, the caller closes it.
    async fn usable(&self, lease: &mut SqliteLease) -> bool {
        // A transaction dropped open. Closing the connection would roll it
        // back too, but costs a new connection (a thread and a file open).
        if lease.transaction == SqliteTransaction::Begun
            && let Err(e) = (&mut **lease).execute("ROLLBACK").await
        {
            // The storage refused (disk full, I/O error), or SQLite had
            // already rolled back (a COMMIT the storage refused): a new
            // connection starts clean either way.
            tracing::debug!(error = %e, "rolling back an abandoned transaction failed");
            return false;
        }
        if self.inner.check_transaction {
            return matches!(lost_transaction::usable(lease).await, Ok(true));
        }
        true
    }

    async fn connect(&self) -> Result<SqliteConnection, sqlx::Error> {
        let conn = self.inner.options.connect().await?;
        self.inner.open.fetch_add(1, Relaxed);
        Ok(conn)
    }

    /// The database's file.
    pub(crate) fn file(&self) -> &Path {
        self.inner.options.get_filename()
    }

    /// Whether [`SqliteConns::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.permits.is_closed()
    }

    /// Connections open, idle, and the most there may be.
    pub(crate) fn sizes(&self) -> PoolSizes {
        let idle = u32::try_from(self.inner.idle().len()).unwrap_or(u32::MAX);
        PoolSizes {
            open: self.inner.open.load(Relaxed),
            idle,
            max: self.inner.max,
        }
    }

    /// Lends nothing more, waits for every lent connection to come back,
    /// then closes them all.
    pub(crate) async fn close(&self) {
        if let Ok(all) = self.inner.permits.acquire_many(self.inner.max).await {
            all.forget();
        }
        self.inner.permits.close();
        let idle = std::mem::take(&mut *self.inner.idle());
        for Idle { conn, .. } in idle {
            self.inner.open.fetch_sub(1, Relaxed);
            if let Err(e) = conn.close().await {
                tracing::debug!(error = %e, "closing a SQLite connection failed");
            }
        }
    }
}

impl Inner {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // The list is consistent between any two statements on it.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection lent by [`SqliteConns`]; it goes back when dropped.
pub struct SqliteLease {
    conn: Option<SqliteConnection>,
    /// Its transaction, if any.
    pub(crate) transaction: SqliteTransaction,
    inner: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl fmt::Debug for SqliteLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteLease").finish_non_exhaustive()
    }
}

impl Deref for SqliteLease {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl DerefMut for SqliteLease {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for SqliteLease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Back before the permit is: the next borrower finds it idle.
            // A transaction still begun here was dropped open.
            let abandoned = self.transaction == SqliteTransaction::Begun;
            self.inner.idle().push(Idle { conn, abandoned });
        }
    }
}
