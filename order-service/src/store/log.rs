//! The order log's reads (its rows are written by triggers, migrations
//! 0003 and, on PostgreSQL, 0007, in the transaction of each status
//! change).

use support::{
    event_log::{Bounds, EventLog},
    with_db,
};

use super::{Store, order_from_row};
use crate::{domain::Order, error::Result};

/// The order log.
pub(crate) const EVENT_LOG: EventLog = EventLog {
    table: "order_events",
};

/// An event row's columns, in [`order_from_row`]'s order (the log keeps
/// what clients see; the key and release state are not logged).
const COLUMNS: &str = "order_id, product, quantity, status, reason, created_at_ms, \
     '' AS order_key, FALSE AS release_pending, CAST(0 AS BIGINT) AS release_attempts, seq, \
     trace_id";

impl Store {
    /// The logged order states after `seq`, oldest first, at most `limit`,
    /// each with its seq and the trace of the change.
    pub(crate) async fn events_after(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<(i64, (Order, Option<String>))>> {
        with_db!(&self.db, read, |pool| {
            // The limit as a literal: see `support::db::limit`.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM order_events WHERE seq > $1 ORDER BY seq LIMIT {}",
                support::db::limit(limit)
            )))
            .bind(seq)
            .persistent(self.db.keeps_plans())
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| {
                use sqlx::Row;
                Ok((row.try_get(9)?, (order_from_row(row)?, row.try_get(10)?)))
            })
            .collect()
        })
    }

    /// The span of the log still retained.
    pub(crate) async fn event_bounds(&self) -> Result<Bounds> {
        let _span = support::db_span!("SELECT order_events", self.db.system());
        Ok(EVENT_LOG.bounds(&self.db).await?)
    }
}
