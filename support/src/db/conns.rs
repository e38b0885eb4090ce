//! Connections of one pool, lent to statements and transactions without
//! sqlx's pool; one kind of connection per [`Kind`] (`sqlite`, `postgres`).
//!
//! Why not `sqlx::Pool`: when one of its connections comes back, it spawns
//! a task that pings the connection before it may be lent again, and no
//! option turns that off. For SQLite a ping is a hand-off to the
//! connection's thread and back, as costly as a statement of its own: each
//! order paid five (measured with `scripts/instructions-per-order`). For
//! PostgreSQL it is a round trip to the server and a wake-up of its
//! backend process, one per transaction and per statement outside one,
//! and a task: without them PostgreSQL's orders/s went up by 15% and its
//! p99 at half rate down from 11.2 to 8.9 ms (bench/README.md, the tenth
//! round of "Where one order's CPU goes").
//!
//! What the ping is for, and what takes its place here:
//! - A rollback queued by a transaction dropped open: each kind says
//!   whether a connection coming back needs tidying ([`Kind::untidy`]),
//!   and one that does is tidied in a task of its own before it is idle
//!   again ([`Kind::tidy`]), so that no lock waits for a next borrower.
//! - A connection that hung up: one whose last statement failed or was
//!   dropped half-way is tidied too, and closed if that fails; one idle
//!   for a while is checked before it is lent ([`Kind::ready`]).
//!
//! A connection its borrower left clean goes straight back to the idle
//! list, with no task and no round trip.
//!
//! What sqlx's pool did and this keeps: at most `max` connections, opened
//! when first needed; borrowers wait in turn (a fair semaphore), at most
//! [`super::ACQUIRE_TIMEOUT`]; closing waits for every connection to come
//! back, then closes each.

use std::{
    fmt,
    ops::{Deref, DerefMut},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU32, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use sqlx::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{ACQUIRE_TIMEOUT, PoolSizes};

pub(crate) mod postgres;
pub(crate) mod sqlite;
#[cfg(all(test, feature = "testing"))]
mod tests;

/// One kind of connection: how it is opened, and what is done to it
/// between two borrowers.
pub trait Kind: Send + Sync + Sized + 'static {
    /// The connection.
    type Conn: Connection + Send + 'static;
    /// How connections are opened, with what the pool needs to know of
    /// them.
    type Config: Send + Sync + 'static;
    /// What a borrower is doing with its connection, which the pool reads
    /// when it comes back.
    type State: Copy + Default + PartialEq + Send + Sync + fmt::Debug + 'static;

    /// Opens a connection.
    fn connect(
        config: &Self::Config,
    ) -> impl Future<Output = Result<Self::Conn, sqlx::Error>> + Send;

    /// Whether `conn`, idle for `idle_for` and left in `state`, may be lent;
    /// if not, the pool closes it and opens another.
    fn ready<'c>(
        config: &'c Self::Config,
        conn: &'c mut Self::Conn,
        state: Self::State,
        idle_for: Duration,
    ) -> impl Future<Output = bool> + Send + 'c;

    /// Whether a connection coming back in `state` must be tidied
    /// ([`Kind::tidy`]) before it is idle again.
    fn untidy(state: Self::State) -> bool;

    /// Tidies `conn`; false if it is to be closed instead.
    fn tidy(conn: &mut Self::Conn) -> impl Future<Output = bool> + Send + '_;
}

/// Up to `max` connections of kind `K`. Cheap to clone: clones share the
/// connections.
pub struct Conns<K: Kind> {
    inner: Arc<Inner<K>>,
}

impl<K: Kind> Clone for Conns<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<K: Kind> {
    config: K::Config,
    /// One permit per connection that may be lent at once.
    permits: Arc<Semaphore>,
    max: u32,
    /// Connections open now, lent or idle.
    open: AtomicU32,
    idle: Mutex<Vec<Idle<K>>>,
}

/// An idle connection.
struct Idle<K: Kind> {
    conn: K::Conn,
    /// What its last borrower left.
    state: K::State,
    since: Instant,
}

impl<K: Kind> fmt::Debug for Conns<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conns")
            .field("sizes", &self.sizes())
            .finish_non_exhaustive()
    }
}

impl<K: Kind> Conns<K> {
    /// Up to `max` connections opened with `config`; opens one now, so
    /// that a database that cannot be reached fails here.
    pub(crate) async fn open(config: K::Config, max: u32) -> Result<Self, sqlx::Error> {
        let first = K::connect(&config).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                permits: Arc::new(Semaphore::new(max as usize)),
                max,
                open: AtomicU32::new(1),
                idle: Mutex::new(vec![Idle {
                    conn: first,
                    state: K::State::default(),
                    since: Instant::now(),
                }]),
            }),
        })
    }

    /// A connection, idle or newly opened, once one of the `max` is free
    /// (waiting in turn, at most [`ACQUIRE_TIMEOUT`]).
    pub async fn acquire(&self) -> Result<Lease<K>, sqlx::Error> {
        tokio::time::timeout(ACQUIRE_TIMEOUT, self.lend())
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    async fn lend(&self) -> Result<Lease<K>, sqlx::Error> {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        // The idle connection is in the lease while it is checked: if this
        // is cancelled meanwhile, dropping the lease puts it back as it was.
        let mut lease = Lease {
            conn: None,
            state: K::State::default(),
            inner: Arc::clone(&self.inner),
            permit: Some(permit),
        };
        let idle = self.inner.idle().pop();
        if let Some(Idle { conn, state, since }) = idle {
            lease.state = state;
            let conn = lease.conn.insert(conn);
            if K::ready(&self.inner.config, conn, state, since.elapsed()).await {
                lease.state = K::State::default();
                return Ok(lease);
            }
            // Closed instead (dropping it does).
            lease.conn = None;
            lease.state = K::State::default();
            self.inner.open.fetch_sub(1, Relaxed);
        }
        lease.conn = Some(K::connect(&self.inner.config).await?);
        self.inner.open.fetch_add(1, Relaxed);
        Ok(lease)
    }

    /// How connections are opened.
    pub(crate) fn config(&self) -> &K::Config {
        &self.inner.config
    }

    /// Whether [`Conns::close`] was called.
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

    /// Lends nothing more, waits for every lent connection to come back
    /// (and be tidied), then closes them all.
    pub(crate) async fn close(&self) {
        if let Ok(all) = self.inner.permits.acquire_many(self.inner.max).await {
            all.forget();
        }
        self.inner.permits.close();
        let idle = std::mem::take(&mut *self.inner.idle());
        for Idle { conn, .. } in idle {
            self.inner.open.fetch_sub(1, Relaxed);
            if let Err(e) = conn.close().await {
                tracing::debug!(error = %e, "closing a database connection failed");
            }
        }
    }
}

impl<K: Kind> Inner<K> {
    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle<K>>> {
        // The list is consistent between any two statements on it.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `conn` is idle again, left in `state`.
    fn put_back(&self, conn: K::Conn, state: K::State) {
        self.idle().push(Idle {
            conn,
            state,
            since: Instant::now(),
        });
    }
}

/// A connection lent by [`Conns`]; it goes back when dropped.
pub struct Lease<K: Kind> {
    conn: Option<K::Conn>,
    /// What its borrower is doing with it (see [`Kind::State`]).
    pub(crate) state: K::State,
    inner: Arc<Inner<K>>,
    /// Given back after the connection is (see `Drop`).
    permit: Option<OwnedSemaphorePermit>,
}

impl<K: Kind> fmt::Debug for Lease<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<K: Kind> Deref for Lease<K> {
    type Target = K::Conn;

    fn deref(&self) -> &K::Conn {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl<K: Kind> DerefMut for Lease<K> {
    fn deref_mut(&mut self) -> &mut K::Conn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped")
    }
}

impl<K: Kind> Drop for Lease<K> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let state = self.state;
        if !K::untidy(state) {
            // Back before the permit is: the next borrower finds it idle.
            self.inner.put_back(conn, state);
            return;
        }
        // The permit goes with the task: nobody is lent a connection in
        // its place until it is tidied (or closed).
        let inner = Arc::clone(&self.inner);
        let permit = self.permit.take();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime left to tidy it on (shutting down): dropped, which
            // closes it.
            inner.open.fetch_sub(1, Relaxed);
            return;
        };
        runtime.spawn(async move {
            if K::tidy(&mut conn).await {
                inner.put_back(conn, K::State::default());
            } else {
                // Dropped: it hung up, or is in a state nobody should
                // inherit; a new one is opened when needed.
                inner.open.fetch_sub(1, Relaxed);
                drop(conn);
            }
            drop(permit);
        });
    }
}
