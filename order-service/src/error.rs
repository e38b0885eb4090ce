//! The order flow's error: what placing, cancelling or reading an order can
//! fail with, whatever carries the request. Each message is written once,
//! in its `Display`; `api::error` (HTTP status and JSON) and `grpc` (status
//! code) map it, each in one place. Nothing here knows a transport.

use std::sync::Arc;

use support::db::is_unavailable;

use crate::domain::{Invalid, Status};

/// Everything the flow and the store can fail with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The request's input is not valid; nothing was written.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// No order has this id.
    #[error("Order {0} not found")]
    OrderNotFound(i64),
    /// Only a CREATED order can be cancelled.
    #[error("Order {id} is {} and cannot be cancelled", .status.as_str())]
    NotCancellable {
        /// The order.
        id: i64,
        /// Where it stands.
        status: Status,
    },
    /// The first request with this Idempotency-Key has not finished.
    #[error("A request with this Idempotency-Key is still being processed")]
    KeyInFlight,
    /// The Idempotency-Key came with a different request before.
    #[error("Idempotency-Key was already used for a different request")]
    KeyReused,
    /// Inventory could not be reached or did not answer in time.
    #[error("Inventory unavailable")]
    InventoryUnavailable,
    /// A database failure (an outage when [`is_unavailable`] says so).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A broken invariant: a bug, or a database changed behind our back.
    #[error("internal error: {0}")]
    Internal(#[from] Broken),
    /// The failure of a whole batch (see `flow::batches`), shared by every
    /// request in it; answered as that failure would be.
    #[error("{0}")]
    Batch(Arc<Error>),
}

/// The invariants that can break, each with what the log says.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Broken {
    /// `orders.status` holds a value this version does not know.
    #[error("unknown order status {0:?}")]
    UnknownStatus(String),
    /// A settled order could not be read back.
    #[error("order {0} vanished")]
    Vanished(i64),
    /// A batch stage dropped a request without answering it.
    #[error("the {0} stage gave no answer")]
    StageLost(&'static str),
    /// An insert conflicted although it had no key to conflict on.
    #[error("insert without idempotency key conflicted")]
    KeylessConflict,
}

/// Result with this crate's error.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error itself, seen through the batch that shared it.
    pub(crate) fn cause(&self) -> &Error {
        match self {
            Error::Batch(e) => e.cause(),
            other => other,
        }
    }

    /// Whether the database cannot serve (unreachable, out of disk): an
    /// outage the database handle has logged already.
    pub(crate) fn is_database_outage(&self) -> bool {
        matches!(self.cause(), Error::Database(e) if is_unavailable(e))
    }

    /// What a client reads, whatever the transport. Internal details stay
    /// in the log: a failure that is ours is logged here, once, with its
    /// source. A database that cannot serve is an outage, not a bug: the
    /// database handle logged it where it failed, once per interval rather
    /// than once per request (see `support::db`), so nothing is logged here.
    pub(crate) fn public_message(&self) -> String {
        match self.cause() {
            e if e.is_database_outage() => "Database unavailable, retry later".into(),
            e @ (Error::Database(_) | Error::Internal(_)) => {
                tracing::error!(error = %e, "request failed");
                "Internal error".into()
            }
            other => other.to_string(),
        }
    }
}
