//! Recording and settling many orders at once: the statements behind the
//! write path's batches (see `flow::batches`). One order is a batch of one,
//! with the same statements.

use std::{collections::HashMap, time::SystemTime};

use support::db::{Observed, Pooled};

use super::{COLUMNS, Ids, Settlement, Store, order_from_row};
use crate::{
    domain::{IdempotencyKey, NewOrder, Order, Status, from_ms, to_ms},
    error::Result,
};

/// A new order to record PENDING.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    /// What was ordered.
    pub(crate) new: NewOrder,
    /// Its fresh unique key (also its reservation key at inventory).
    pub(crate) key: String,
    /// The client's Idempotency-Key, if it sent one.
    pub(crate) idempotency: Option<IdempotencyKey>,
    /// The trace of the request placing it; its events name it.
    pub(crate) trace_id: Option<String>,
}

impl Pending {
    /// The order this entry became when recorded as `id` at `now_ms`: what
    /// its INSERT wrote, with the columns' defaults.
    fn recorded(&self, id: i64, now_ms: i64) -> Order {
        Order {
            id,
            product: self.new.product().to_owned(),
            quantity: self.new.quantity(),
            status: Status::Pending,
            reason: None,
            created_at: from_ms(now_ms),
            key: self.key.clone(),
            release_pending: false,
            release_attempts: 0,
        }
    }
}

impl Order {
    /// This PENDING order as `s` settles it.
    fn settled_as(&self, s: &Settlement) -> Order {
        Order {
            status: s.status,
            reason: s.reason.map(str::to_owned),
            release_pending: s.release_pending,
            ..self.clone()
        }
    }
}

impl Store {
    /// Records `batch` PENDING with one multi-row INSERT; answers, per
    /// entry and in order, the new order, or `None` when its
    /// Idempotency-Key was already recorded (earlier, or by an earlier
    /// entry of the same batch): then nothing was written for it.
    pub(crate) async fn insert_pending(&self, batch: &[Pending]) -> Result<Vec<Option<Order>>> {
        let _span = support::db_span!("INSERT orders", self.db.system());
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let now = to_ms(SystemTime::now());
        let rows = match self.db.writer() {
            Pooled::Sqlite(pool) => {
                // No RETURNING: SQLite builds a temporary table for it. A
                // new row's id is one past the largest (no AUTOINCREMENT),
                // so one statement's new rows have consecutive ids, the
                // last one `last_insert_rowid`.
                let done = match batch {
                    [one] => insert_one(one, now).execute(pool).await?,
                    _ => insert_query(batch, now).build().execute(pool).await?,
                };
                let (n, last) = (done.rows_affected(), done.last_insert_rowid());
                let first = last - i64::try_from(n).unwrap_or(i64::MAX) + 1;
                if usize::try_from(n).is_ok_and(|n| n == batch.len()) {
                    // Every entry is new, in the order given.
                    return Ok(batch
                        .iter()
                        .zip(first..)
                        .map(|(p, id)| Some(p.recorded(id, now)))
                        .collect());
                } else {
                    // Some keys were recorded before: which entries are
                    // new, the new rows say.
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {COLUMNS} FROM orders WHERE id BETWEEN $1 AND $2"
                    )))
                    .bind(first)
                    .bind(last)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(order_from_row)
                    .collect::<Result<Vec<_>>>()?
                }
            }
            Pooled::Postgres(pool) => sqlx::query(INSERT_ARRAYS)
                .bind(batch.iter().map(|p| p.key.as_str()).collect::<Vec<_>>())
                .bind(batch.iter().map(|p| p.new.product()).collect::<Vec<_>>())
                .bind(batch.iter().map(|p| p.new.quantity()).collect::<Vec<_>>())
                .bind(
                    batch
                        .iter()
                        .map(|p| p.idempotency.as_ref().map(IdempotencyKey::as_str))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    batch
                        .iter()
                        .map(|p| p.idempotency.as_ref().map(|_| p.new.fingerprint()))
                        .collect::<Vec<_>>(),
                )
                .bind(now)
                .bind(
                    batch
                        .iter()
                        .map(|p| p.trace_id.as_deref())
                        .collect::<Vec<_>>(),
                )
                .fetch_all(pool)
                .await?
                .iter()
                .map(order_from_row)
                .collect::<Result<Vec<_>>>()?,
        };
        let mut by_key: HashMap<String, Order> =
            rows.into_iter().map(|o| (o.key.clone(), o)).collect();
        Ok(batch.iter().map(|p| by_key.remove(&p.key)).collect())
    }

    /// Settles many pending orders (each as recorded) in one transaction.
    /// Per entry and in order: the settled order, or `None` when it was no
    /// longer pending.
    pub(crate) async fn settle_batch(
        &self,
        batch: &[(Order, Settlement)],
    ) -> Result<Vec<Option<Order>>> {
        let _span = support::db_span!("UPDATE orders", self.db.system());
        let now = to_ms(SystemTime::now());
        if let ([(order, s)], Pooled::Sqlite(pool)) = (batch, self.db.writer()) {
            // One order, on SQLite: whether the UPDATE changed its row says
            // all, without RETURNING (for which SQLite builds a temporary
            // table). While PENDING, nothing else of an order changes.
            let sql = if s.forget_idempotency_key {
                SETTLE_ONE_FORGETTING_KEY
            } else {
                SETTLE_ONE
            };
            let changed = sqlx::query(sql)
                .bind(s.status.as_str())
                .bind(s.reason)
                .bind(s.release_pending)
                .bind(now)
                .bind(order.id)
                .execute(pool)
                .await?
                .rows_affected();
            if changed != 1 {
                return Ok(vec![None]);
            }
            self.committed.wake();
            return Ok(vec![Some(order.settled_as(s))]);
        }
        let settled: Vec<Order> = match self.db.writer() {
            Pooled::Sqlite(pool) => settle_grouped(pool, batch, now).await?,
            Pooled::Postgres(pool) => sqlx::query(SETTLE_ARRAYS)
                .bind(batch.iter().map(|(o, _)| o.id).collect::<Vec<_>>())
                .bind(
                    batch
                        .iter()
                        .map(|(_, s)| s.status.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(batch.iter().map(|(_, s)| s.reason).collect::<Vec<_>>())
                .bind(
                    batch
                        .iter()
                        .map(|(_, s)| s.release_pending)
                        .collect::<Vec<_>>(),
                )
                .bind(
                    batch
                        .iter()
                        .map(|(_, s)| s.forget_idempotency_key)
                        .collect::<Vec<_>>(),
                )
                .bind(now)
                .fetch_all(pool)
                .await?
                .iter()
                .map(order_from_row)
                .collect::<Result<_>>()?,
        };
        if !settled.is_empty() {
            self.committed.wake();
        }
        let mut by_id: HashMap<i64, Order> = settled.into_iter().map(|o| (o.id, o)).collect();
        Ok(batch.iter().map(|(o, _)| by_id.remove(&o.id)).collect())
    }
}

/// [`Store::settle_batch`] on SQLite: one `UPDATE` per distinct settlement
/// (a batch has a handful: created, rejected for stock, …), in one
/// transaction when there are several.
async fn settle_grouped(
    pool: Observed<'_, sqlx::Sqlite>,
    batch: &[(Order, Settlement)],
    now: i64,
) -> Result<Vec<Order>> {
    let mut groups: Vec<(Settlement, Vec<i64>)> = Vec::new();
    for (order, s) in batch {
        match groups.iter_mut().find(|(g, _)| g == s) {
            Some((_, ids)) => ids.push(order.id),
            None => groups.push((*s, vec![order.id])),
        }
    }
    let mut settled = Vec::with_capacity(batch.len());
    if let [(s, ids)] = groups.as_slice() {
        // One statement commits on its own.
        for row in settle_query(s, ids, now).build().fetch_all(pool).await? {
            settled.push(order_from_row(&row)?);
        }
        return Ok(settled);
    }
    let mut tx = pool.begin().await?;
    for (s, ids) in &groups {
        for row in settle_query(s, ids, now)
            .build()
            .fetch_all(&mut *tx)
            .await?
        {
            settled.push(order_from_row(&row)?);
        }
    }
    tx.commit().await?;
    Ok(settled)
}

/// The columns an INSERT of new orders writes.
macro_rules! insert_into {
    () => {
        "INSERT INTO orders (order_key, product, quantity, status, idempotency_key, \
         request_hash, created_at_ms, updated_at_ms, trace_id) "
    };
}

/// The conflict clause of that INSERT: the key's unique index is partial
/// (keyed orders only), so the conflict target names its condition.
macro_rules! on_known_key {
    () => {
        " ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    };
}

/// [`insert_query`] of one order, on SQLite, without RETURNING: a constant,
/// so nothing is built per order. Its parameters are `?`, bound in order:
/// SQLite's numbered `$N` would make sqlx look each one up by name.
fn insert_one(
    p: &Pending,
    now: i64,
) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    const SQL: &str = concat!(
        insert_into!(),
        "VALUES (?, ?, ?, 'PENDING', ?, ?, ?, ?, ?)",
        on_known_key!()
    );
    sqlx::query(SQL)
        .bind(p.key.as_str())
        .bind(p.new.product())
        .bind(p.new.quantity())
        .bind(p.idempotency.as_ref().map(IdempotencyKey::as_str))
        .bind(p.idempotency.as_ref().map(|_| p.new.fingerprint()))
        .bind(now)
        .bind(now)
        .bind(p.trace_id.as_deref())
}

/// [`insert_query`] on PostgreSQL, for any number of orders: one array
/// per column (`$6` is the time), so the statement's text is the same for
/// every batch and each connection prepares it once (a text per batch
/// size would be parsed and planned anew, a round trip more, whenever a
/// size is new to the connection's statement cache). Rows go in the
/// arrays' order, so ids follow the batch's.
const INSERT_ARRAYS: &str = concat!(
    insert_into!(),
    "SELECT k, p, q, 'PENDING', i, h, $6, $6, t \
     FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $7::text[]) \
     AS v (k, p, q, i, h, t)",
    on_known_key!(),
    " RETURNING ",
    columns!()
);

/// [`Store::settle_batch`] on PostgreSQL, for any batch: one array per
/// field of the settlements, so whatever the batch's mix of outcomes it is
/// one statement, committing on its own (the order log's trigger relies on
/// that: migrations/postgres/0007), with one text for every batch.
const SETTLE_ARRAYS: &str = concat!(
    "UPDATE orders SET status = s.new_status, reason = s.new_reason, \
     release_pending = s.new_release_pending, updated_at_ms = $6, \
     idempotency_key = CASE WHEN s.forget_key THEN NULL ELSE idempotency_key END \
     FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::boolean[], $5::boolean[]) \
     AS s (order_id, new_status, new_reason, new_release_pending, forget_key) \
     WHERE status = 'PENDING' AND id = s.order_id RETURNING ",
    columns!()
);

/// [`settle_query`] of one order, on SQLite, without RETURNING: status,
/// reason, release_pending, updated_at_ms, id (`?`, as in [`insert_one`]).
const SETTLE_ONE: &str = "UPDATE orders SET status = ?, reason = ?, release_pending = ?, \
     updated_at_ms = ? WHERE status = 'PENDING' AND id = ?";
/// [`SETTLE_ONE`] that also forgets the order's Idempotency-Key.
const SETTLE_ONE_FORGETTING_KEY: &str = "UPDATE orders SET status = ?, reason = ?, \
     release_pending = ?, updated_at_ms = ?, idempotency_key = NULL \
     WHERE status = 'PENDING' AND id = ?";

/// The multi-row `INSERT` that records `batch` PENDING at `now`, skipping
/// entries whose Idempotency-Key is already recorded (SQLite; PostgreSQL's
/// is [`INSERT_ARRAYS`]).
fn insert_query(batch: &[Pending], now: i64) -> sqlx::QueryBuilder<sqlx::Sqlite> {
    let mut query = sqlx::QueryBuilder::new(insert_into!());
    query.push_values(batch, |mut row, p| {
        row.push_bind(p.key.as_str())
            .push_bind(p.new.product())
            .push_bind(p.new.quantity())
            .push("'PENDING'")
            .push_bind(p.idempotency.as_ref().map(IdempotencyKey::as_str))
            .push_bind(p.idempotency.as_ref().map(|_| p.new.fingerprint()))
            .push_bind(now)
            .push_bind(now)
            .push_bind(p.trace_id.as_deref());
    });
    query.push(on_known_key!());
    query
}

/// `UPDATE … RETURNING` that settles the orders `ids` that are still
/// PENDING as `s` says (SQLite; PostgreSQL's is [`SETTLE_ARRAYS`]).
fn settle_query(s: &Settlement, ids: &[i64], now: i64) -> sqlx::QueryBuilder<sqlx::Sqlite> {
    let mut query = sqlx::QueryBuilder::new("UPDATE orders SET status = ");
    query
        .push_bind(s.status.as_str())
        .push(", reason = ")
        .push_bind(s.reason)
        .push(", release_pending = ")
        .push_bind(s.release_pending)
        .push(", updated_at_ms = ")
        .push_bind(now);
    if s.forget_idempotency_key {
        query.push(", idempotency_key = NULL");
    }
    query.push(" WHERE status = 'PENDING' AND");
    sqlx::Sqlite::push_ids(&mut query, ids);
    query.push(format!(" RETURNING {COLUMNS}"));
    query
}
