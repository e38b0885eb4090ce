//! PostgreSQL's connections as [`Conns`](super::Conns) lends them.
//!
//! A connection whose borrower ran its statements to their end, and
//! committed or rolled back what it began, comes back clean and is lent
//! again as it is. One left in doubt (see [`PgState`]) is pinged on its
//! way back: the round trip sends a rollback that a dropped transaction
//! queued, so that its locks go at once and not when somebody next borrows
//! the connection (another replica may be waiting for them), reads what a
//! statement dropped half-way still had coming, and finds a connection the
//! server hung up on, which is then closed rather than lent.

use std::time::Duration;

use sqlx::{
    ConnectOptions as _, Connection as _, PgConnection, Postgres, postgres::PgConnectOptions,
};

use super::{Conns, Kind, Lease};

/// PostgreSQL connections.
pub type PgConns = Conns<Postgres>;
/// A connection lent by [`PgConns`].
pub type PgLease = Lease<Postgres>;

/// A connection used more recently than this is lent without a ping first
/// (HikariCP, Spring's pool, has the same window): under load every
/// connection is, so a statement costs one round trip to the server
/// instead of two. One idle for longer is pinged, and replaced if the
/// server dropped it.
const TRUSTED_IDLE: Duration = Duration::from_millis(500);

/// Whether a lent connection is known to be as it was lent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PgState {
    /// Its last statement ran to its end and no transaction was dropped
    /// open on it.
    #[default]
    Clean,
    /// A statement is running or was dropped half-way, something failed
    /// (the connection may be gone), or a transaction was dropped open
    /// (its rollback is queued).
    InDoubt,
}

impl Kind for Postgres {
    type Conn = PgConnection;
    type Config = PgConnectOptions;
    type State = PgState;

    fn connect(
        options: &PgConnectOptions,
    ) -> impl Future<Output = Result<PgConnection, sqlx::Error>> + Send {
        options.connect()
    }

    async fn ready(
        _: &PgConnectOptions,
        conn: &mut PgConnection,
        _: PgState,
        idle_for: Duration,
    ) -> bool {
        // A connection comes back in doubt only through `tidy`.
        idle_for < TRUSTED_IDLE || conn.ping().await.is_ok()
    }

    fn untidy(state: PgState) -> bool {
        state == PgState::InDoubt
    }

    async fn tidy(conn: &mut PgConnection) -> bool {
        conn.ping()
            .await
            .inspect_err(|e| tracing::debug!(error = %e, "closing a PostgreSQL connection"))
            .is_ok()
    }
}
