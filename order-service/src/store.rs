//! All SQL of order-service, on SQLite and PostgreSQL alike.
//!
//! Every status change is a conditional `UPDATE … WHERE status = <expected>`,
//! so two actors (a request and the reconciler, or two cancels) can never
//! both move the same order: exactly one update matches, the other learns the
//! order's new state and answers with it.

use std::time::SystemTime;

use sqlx::Row;
use support::{db::Db, event_log::Wake, with_db};

use crate::{
    domain::{IdempotencyKey, Order, Status, from_ms, to_ms},
    error::{Broken, Error, Result},
};

/// Columns every query returns, in [`order_from_row`]'s order (a macro,
/// for statements that are constants: `concat!`).
macro_rules! columns {
    () => {
        "id, product, quantity, status, reason, created_at_ms, order_key, \
         release_pending, release_attempts"
    };
}

/// [`columns!`], for statements built at run time.
const COLUMNS: &str = columns!();

/// The orders table.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    db: Db,
    /// Woken after every commit that changed an order's status: the
    /// database logged the change in that transaction, and the log's relay
    /// reads it now rather than at its next poll.
    committed: Wake,
}

/// What recording a new order found.
#[derive(Debug)]
pub(crate) enum Recorded {
    /// A new pending order.
    New(Order),
    /// An earlier order with the same Idempotency-Key, and whether its
    /// request was the same.
    Existing {
        /// The earlier order.
        order: Order,
        /// Same product and quantity as this request.
        same_request: bool,
    },
}

/// How a pending order is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settlement {
    /// The final status.
    pub status: Status,
    /// Why, for rejections.
    pub reason: Option<&'static str>,
    /// Inventory may hold stock for it that must be released.
    pub release_pending: bool,
    /// Forget the Idempotency-Key, so a retry is a new attempt (for
    /// outcomes that say "try again", such as inventory being down).
    pub forget_idempotency_key: bool,
}

fn order_from_row<R>(row: &R) -> Result<Order>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Order {
        id: row.try_get(0)?,
        product: row.try_get(1)?,
        quantity: row.try_get(2)?,
        status: {
            let stored = row.try_get::<String, _>(3)?;
            Status::parse(&stored).ok_or(Broken::UnknownStatus(stored))?
        },
        reason: row.try_get(4)?,
        created_at: from_ms(row.try_get(5)?),
        key: row.try_get(6)?,
        release_pending: row.try_get(7)?,
        release_attempts: row.try_get(8)?,
    })
}

/// How each backend names a set of orders in a statement.
pub(crate) trait Ids: sqlx::Database {
    /// Appends ` id = …` naming `ids`, bound.
    fn push_ids(query: &mut sqlx::QueryBuilder<Self>, ids: &[i64]);
}

/// ` id IN ($n, …)`: SQLite has no arrays (and preparing a statement
/// there costs no round trip).
impl Ids for sqlx::Sqlite {
    fn push_ids(query: &mut sqlx::QueryBuilder<Self>, ids: &[i64]) {
        query.push(" id IN (");
        let mut list = query.separated(", ");
        for id in ids {
            list.push_bind(*id);
        }
        query.push(")");
    }
}

/// ` id = ANY($n)` with one array: the statement's text is the same for
/// any number of ids, so each connection prepares it once and reuses it
/// (a text per count would be parsed and planned anew, a round trip more,
/// whenever a batch's size is new to the connection's statement cache).
impl Ids for sqlx::Postgres {
    fn push_ids(query: &mut sqlx::QueryBuilder<Self>, ids: &[i64]) {
        query.push(" id = ANY(").push_bind(ids.to_vec()).push(")");
    }
}

impl Store {
    /// Wraps an open, migrated database; `committed` wakes the order log's
    /// relay.
    pub(crate) fn new(db: Db, committed: Wake) -> Self {
        Self { db, committed }
    }

    /// Whether the database answers and takes writes, for readiness.
    pub(crate) async fn ping(&self) -> bool {
        self.db.ping().await.is_ok() && self.db.writable()
    }

    /// The order recorded earlier under `idempotency`, and whether its
    /// request had this `fingerprint`; `None` when the key is not (or no
    /// longer) recorded.
    pub(crate) async fn existing(
        &self,
        idempotency: &IdempotencyKey,
        fingerprint: &str,
    ) -> Result<Option<Recorded>> {
        let _span = support::db_span!("SELECT orders", self.db.system());
        let found = with_db!(&self.db, write, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS}, request_hash FROM orders WHERE idempotency_key = $1"
            )))
            .bind(idempotency.as_str())
            .fetch_optional(pool)
            .await?
            .map(|row| {
                Ok::<_, Error>((order_from_row(&row)?, row.try_get::<Option<String>, _>(9)?))
            })
            .transpose()?
        });
        Ok(found.map(|(order, hash)| Recorded::Existing {
            order,
            same_request: hash.as_deref() == Some(fingerprint),
        }))
    }

    /// Cancels a created order and marks its stock for release; its event
    /// names `trace_id`, the cancelling request's trace. `None` when the
    /// order is not CREATED (see [`Store::get`] for why).
    pub(crate) async fn cancel(&self, id: i64, trace_id: Option<&str>) -> Result<Option<Order>> {
        let _span = support::db_span!("UPDATE orders", self.db.system());
        let cancelled = with_db!(&self.db, write, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE orders SET status = 'CANCELLED', release_pending = TRUE, updated_at_ms = $1, \
                 trace_id = $3 WHERE id = $2 AND status = 'CREATED' RETURNING {COLUMNS}"
            )))
            .bind(to_ms(SystemTime::now()))
            .bind(id)
            .bind(trace_id)
            .fetch_optional(pool)
            .await?
            .map(|row| order_from_row(&row))
            .transpose()
        })?;
        self.changed(cancelled)
    }

    /// Wakes the log's relay when `order` changed status (and was logged).
    fn changed(&self, order: Option<Order>) -> Result<Option<Order>> {
        if order.is_some() {
            self.committed.wake();
        }
        Ok(order)
    }

    /// Inventory confirmed the release of these orders' stock; one
    /// statement for a whole reconciliation round.
    pub(crate) async fn releases_done(&self, ids: &[i64]) -> Result<()> {
        let _span = support::db_span!("UPDATE orders", self.db.system());
        if ids.is_empty() {
            return Ok(());
        }
        with_db!(&self.db, write, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "UPDATE orders SET release_pending = FALSE, release_attempts = 0 WHERE",
            );
            Ids::push_ids(&mut query, ids);
            query.build().execute(pool).await.map(drop)?
        });
        Ok(())
    }

    /// Releases failed for reasons of these orders' own: count them, and
    /// retry them no sooner than `retry_at`. One statement for all.
    pub(crate) async fn releases_failed(&self, ids: &[i64], retry_at: SystemTime) -> Result<()> {
        let _span = support::db_span!("UPDATE orders", self.db.system());
        if ids.is_empty() {
            return Ok(());
        }
        with_db!(&self.db, write, |pool| {
            let mut query = sqlx::QueryBuilder::new(
                "UPDATE orders SET release_attempts = release_attempts + 1, release_after_ms = ",
            );
            query
                .push_bind(to_ms(retry_at))
                .push(" WHERE release_pending = TRUE AND");
            Ids::push_ids(&mut query, ids);
            query.build().execute(pool).await.map(drop)?
        });
        Ok(())
    }

    /// One order.
    pub(crate) async fn get(&self, id: i64) -> Result<Option<Order>> {
        let _span = support::db_span!("SELECT orders", self.db.system());
        with_db!(&self.db, read, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM orders WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .map(|row| order_from_row(&row))
            .transpose()
        })
    }

    /// Newest first, at most `limit`, only ids below `before` when given.
    /// Walks the primary key backwards: constant cost per page, however
    /// many orders there are.
    pub(crate) async fn list(&self, before: Option<i64>, limit: i64) -> Result<Vec<Order>> {
        let _span = support::db_span!("SELECT orders", self.db.system());
        self.select(
            "id < $1 ORDER BY id DESC",
            before.unwrap_or(i64::MAX),
            limit,
        )
        .await
    }

    /// Orders whose stock is to be released and whose next attempt is due
    /// by `now`, the longest-waiting first (index `orders_awaiting_release`).
    pub(crate) async fn due_releases(&self, now: SystemTime, limit: i64) -> Result<Vec<Order>> {
        self.select(
            "release_pending = TRUE AND release_after_ms <= $1 ORDER BY release_after_ms, id",
            to_ms(now),
            limit,
        )
        .await
    }

    /// Orders pending since before `stale_before`: their request died
    /// (index `orders_pending`). Each with the trace of the request that
    /// placed it, which its outcome is logged in.
    pub(crate) async fn stale_pending(
        &self,
        stale_before: SystemTime,
        limit: i64,
    ) -> Result<Vec<(Order, Option<String>)>> {
        with_db!(&self.db, read, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS}, trace_id FROM orders \
                 WHERE status = 'PENDING' AND created_at_ms < $1 \
                 ORDER BY created_at_ms, id LIMIT {}",
                support::db::limit(limit)
            )))
            .bind(to_ms(stale_before))
            .persistent(self.db.keeps_plans())
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| Ok((order_from_row(row)?, row.try_get(9)?)))
            .collect()
        })
    }

    /// How many orders still have stock to release (backing off or not).
    pub(crate) async fn awaiting_release(&self) -> Result<i64> {
        let count = with_db!(&self.db, read, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE release_pending = TRUE")
                .persistent(self.db.keeps_plans())
                .fetch_one(pool)
                .await?
        });
        Ok(count)
    }

    /// At most `limit` orders matching `filter` (a condition on `$1`, then
    /// its ORDER BY): a constant, so every value stays a bound parameter.
    /// Planned at each run on PostgreSQL (`Db::keeps_plans`): the table
    /// grows, and these (the listing, the reconciler's scans) are not on
    /// an order's path.
    async fn select(&self, filter: &'static str, arg: i64, limit: i64) -> Result<Vec<Order>> {
        with_db!(&self.db, read, |pool| {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM orders WHERE {filter} LIMIT {}",
                support::db::limit(limit)
            )))
            .bind(arg)
            .persistent(self.db.keeps_plans())
            .fetch_all(pool)
            .await?
            .iter()
            .map(order_from_row)
            .collect()
        })
    }
}

mod batch;
mod log;
#[cfg(test)]
mod tests;

pub(crate) use batch::Pending;
pub(crate) use log::EVENT_LOG;
