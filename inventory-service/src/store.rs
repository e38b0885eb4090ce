//! All SQL of the inventory, on SQLite and PostgreSQL alike.
//!
//! Every stock change is either one conditional `UPDATE … WHERE stock >= $q`
//! (atomic on its own) or one transaction whose first statement takes the
//! write lock, so stock never goes below zero and no reservation is applied
//! twice, whatever the concurrency:
//! - On PostgreSQL, `INSERT … ON CONFLICT (reservation_key) DO NOTHING` makes
//!   a second transaction with the same key wait for the first and then see
//!   its row; the conditional `UPDATE` re-checks `stock >= $q` on the newest
//!   row version after waiting for the row lock. Every kind of transaction
//!   locks reservation rows before product rows (a batch: its keys in key
//!   order, then its products in id order), so they cannot deadlock.
//! - On SQLite all writes go through one connection (see `support::db`), so
//!   transactions are serial.
//!
//! `products.held` is the sum of the quantities of the product's RESERVED
//! reservations: the statement that takes stock for a reservation adds to
//! it, the one that returns a release's stock subtracts, each in the
//! transaction that changes the reservation's state. Restock counts it
//! against the int32 ceiling, so a release always has room to return its
//! stock. `UpdateStock` (`decrement`) holds nothing: its units are gone.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Row;
use support::{db::Db, event_log::Wake, with_db};

use crate::{
    domain::{Product, ProductName, Quantity, ReservationKey, ReservationState, StockChange},
    error::{Error, Result},
};

/// The inventory's storage.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    db: Db,
    /// Woken after every commit that changed stock: the database logged
    /// the change in that transaction, and the log's relay reads it now
    /// rather than at its next poll.
    committed: Wake,
}

/// The answer to a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reservation {
    /// What the key ended up as (the first answer, on a retry).
    pub(crate) state: ReservationState,
    /// The product's stock now.
    pub(crate) stock: i64,
    /// The change to publish, when this call changed stock.
    pub(crate) change: Option<StockChange>,
}

/// The answer to a release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Release {
    /// Set when this call returned stock (exactly one call per key does).
    pub(crate) change: Option<StockChange>,
}

/// The answer to the original, non-idempotent `UpdateStock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Decrement {
    /// Stock now.
    pub(crate) stock: i64,
    /// Set when stock was decremented.
    pub(crate) change: Option<StockChange>,
}

/// Milliseconds since the Unix epoch, as `created_at_ms` stores them.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn unknown(product: &ProductName) -> Error {
    Error::NotFound(format!("unknown product {:?}", product.as_str()))
}

/// A reservation key reused for another request.
fn reused(key: &str, quantity: i64, product: &str) -> Error {
    Error::FailedPrecondition(format!(
        "reservation key {key:?} was already used for {quantity} x {product:?}"
    ))
}

impl Store {
    /// Wraps an open, migrated database; `committed` wakes the stock
    /// log's relay.
    pub(crate) fn new(db: Db, committed: Wake) -> Self {
        Self { db, committed }
    }

    /// The database, for readiness checks and shutdown.
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// Every product, by id.
    pub(crate) async fn list_products(&self) -> Result<Vec<Product>> {
        let _span = support::db_span!("SELECT products", self.db.system());
        let rows = with_db!(&self.db, read, |pool| {
            sqlx::query("SELECT id, name, stock FROM products ORDER BY id")
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(Product {
                        id: r.try_get(0)?,
                        name: r.try_get(1)?,
                        stock_quantity: r.try_get(2)?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }

    /// The first `limit` products (by id) and their stock, for the stock
    /// gauge of `/metrics`.
    pub(crate) async fn stock_sample(&self, limit: i64) -> Result<Vec<(String, i64)>> {
        let rows = with_db!(&self.db, read, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT name, stock FROM products ORDER BY id LIMIT {}",
                support::db::limit(limit)
            )))
            .fetch_all(pool)
            .await?
        });
        Ok(rows)
    }

    /// The stock of one product, `None` when unknown.
    pub(crate) async fn stock_of(&self, product: &ProductName) -> Result<Option<i64>> {
        let _span = support::db_span!("SELECT products", self.db.system());
        let stock = with_db!(&self.db, read, |pool| {
            sqlx::query_scalar("SELECT stock FROM products WHERE name = $1")
                .bind(product.as_str())
                .fetch_optional(pool)
                .await?
        });
        Ok(stock)
    }

    /// The original `UpdateStock`: takes `quantity` if that much is left.
    pub(crate) async fn decrement(
        &self,
        product: &ProductName,
        quantity: Quantity,
    ) -> Result<Decrement> {
        let _span = support::db_span!("UPDATE products", self.db.system());
        let updated: Option<(i64, i64)> = with_db!(&self.db, write, |pool| {
            sqlx::query_as(
                "UPDATE products SET stock = stock - $1, version = version + 1 \
                 WHERE name = $2 AND stock >= $1 RETURNING stock, version",
            )
            .bind(quantity.get())
            .bind(product.as_str())
            .fetch_optional(pool)
            .await?
        });
        match updated {
            Some((stock, version)) => {
                self.committed.wake();
                Ok(Decrement {
                    stock,
                    change: Some(StockChange {
                        product: product.as_str().into(),
                        stock,
                        version,
                    }),
                })
            }
            None => {
                let stock = self
                    .stock_of(product)
                    .await?
                    .ok_or_else(|| unknown(product))?;
                Ok(Decrement {
                    stock,
                    change: None,
                })
            }
        }
    }

    /// Adds `quantity` to a product's stock, as long as stock plus the units
    /// held by reservations stays within the int32 range (every held unit
    /// may come back to stock by a release).
    pub(crate) async fn restock(
        &self,
        product: &ProductName,
        quantity: Quantity,
    ) -> Result<StockChange> {
        let _span = support::db_span!("UPDATE products", self.db.system());
        let updated: Option<(i64, i64)> = with_db!(&self.db, write, |pool| {
            sqlx::query_as(
                "UPDATE products SET stock = stock + $1, version = version + 1 \
                 WHERE name = $2 AND stock + held + $1 <= 2147483647 RETURNING stock, version",
            )
            .bind(quantity.get())
            .bind(product.as_str())
            .fetch_optional(pool)
            .await?
        });
        match updated {
            Some((stock, version)) => {
                self.committed.wake();
                Ok(StockChange {
                    product: product.as_str().into(),
                    stock,
                    version,
                })
            }
            None => match self.stock_of(product).await? {
                None => Err(unknown(product)),
                Some(_) => Err(Error::FailedPrecondition(
                    "stock plus the units held by reservations would exceed 2147483647".into(),
                )),
            },
        }
    }

    /// Reserves `quantity` of `product` under `key`, at most once per key.
    ///
    /// The first call decides the key's outcome (reserved, or not enough
    /// stock) and records it; every later call with the same key returns that
    /// outcome and changes nothing. A key released before it was reserved
    /// answers `Released`. Reusing a key for another product or quantity is
    /// refused, since the caller has confused two requests.
    pub(crate) async fn reserve(
        &self,
        key: &ReservationKey,
        product: &ProductName,
        quantity: Quantity,
    ) -> Result<Reservation> {
        let _span = support::db_span!("reserve transaction", self.db.system());
        let reservation = with_db!(&self.db, write, |pool| {
            async {
                let mut tx = pool.begin().await?;
                // Claim the key first: this takes the write lock (SQLite) or
                // the key's index entry (PostgreSQL) before anything is read.
                let claimed = sqlx::query(
                    "INSERT INTO reservations (reservation_key, product_id, quantity, state, created_at_ms) \
                     SELECT $1, id, $2, 'RESERVED', $3 FROM products WHERE name = $4 \
                     ON CONFLICT (reservation_key) DO NOTHING",
                )
                .bind(key.as_str())
                .bind(quantity.get())
                .bind(now_ms())
                .bind(product.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;

                if !claimed {
                    // Either the key is known, or the product is not.
                    let existing: Option<(String, i64, Option<String>, Option<i64>)> = sqlx::query_as(
                        "SELECT r.state, r.quantity, p.name, p.stock FROM reservations r \
                         LEFT JOIN products p ON p.id = r.product_id WHERE r.reservation_key = $1",
                    )
                    .bind(key.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.rollback().await?;
                    let Some((state, recorded_qty, name, stock)) = existing else {
                        return Err(unknown(product));
                    };
                    let state = ReservationState::from_db(&state)?;
                    let Some(name) = name else {
                        // A tombstone: released before it was reserved.
                        let stock = self.stock_of(product).await?.ok_or_else(|| unknown(product))?;
                        return Ok(Reservation { state, stock, change: None });
                    };
                    if name != product.as_str() || recorded_qty != quantity.get() {
                        return Err(reused(key.as_str(), recorded_qty, &name));
                    }
                    return Ok(Reservation { state, stock: stock.unwrap_or(0), change: None });
                }

                let taken: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE products SET stock = stock - $1, held = held + $1, version = version + 1 \
                     WHERE name = $2 AND stock >= $1 RETURNING stock, version",
                )
                .bind(quantity.get())
                .bind(product.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let reservation = match taken {
                    Some((stock, version)) => Reservation {
                        state: ReservationState::Reserved,
                        stock,
                        change: Some(StockChange { product: product.as_str().into(), stock, version }),
                    },
                    None => {
                        let stock: i64 = sqlx::query_scalar(
                            "UPDATE reservations SET state = 'INSUFFICIENT_STOCK' \
                             WHERE reservation_key = $1 \
                             RETURNING (SELECT stock FROM products WHERE name = $2)",
                        )
                        .bind(key.as_str())
                        .bind(product.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                        Reservation { state: ReservationState::InsufficientStock, stock, change: None }
                    }
                };
                tx.commit().await?;
                Ok::<_, Error>(reservation)
            }
            .await
        })?;
        if reservation.change.is_some() {
            self.committed.wake();
        }
        Ok(reservation)
    }

    /// Releases the reservation under `key`, returning its stock exactly once.
    ///
    /// Releasing an unknown key records a tombstone so that a reservation
    /// arriving later (a request that outlived its deadline) fails instead of
    /// holding stock nobody will release.
    pub(crate) async fn release(&self, key: &ReservationKey) -> Result<Release> {
        let _span = support::db_span!("release transaction", self.db.system());
        let release = with_db!(&self.db, write, |pool| {
            async {
                let mut tx = pool.begin().await?;
                let tombstone = sqlx::query(
                    "INSERT INTO reservations (reservation_key, product_id, quantity, state, created_at_ms) \
                     VALUES ($1, NULL, 0, 'RELEASED', $2) ON CONFLICT (reservation_key) DO NOTHING",
                )
                .bind(key.as_str())
                .bind(now_ms())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if tombstone {
                    tx.commit().await?;
                    return Ok(Release { change: None });
                }
                let held: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE reservations SET state = 'RELEASED' \
                     WHERE reservation_key = $1 AND state = 'RESERVED' RETURNING product_id, quantity",
                )
                .bind(key.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let Some((product_id, quantity)) = held else {
                    // Already released, or it never held stock.
                    tx.rollback().await?;
                    return Ok(Release { change: None });
                };
                let (product, stock, version): (String, i64, i64) = sqlx::query_as(
                    "UPDATE products SET stock = stock + $1, held = held - $1, version = version + 1 \
                     WHERE id = $2 RETURNING name, stock, version",
                )
                .bind(quantity)
                .bind(product_id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok::<_, Error>(Release { change: Some(StockChange { product, stock, version }) })
            }
            .await
        })?;
        if release.change.is_some() {
            self.committed.wake();
        }
        Ok(release)
    }

    /// Deletes at most `limit` settled reservations (released, or refused
    /// for stock) created before `before_ms`; returns how many went.
    ///
    /// Held reservations are never touched: they are the stock of CREATED
    /// orders, returned by a release. A settled row only answers retries of
    /// its key, and those come within seconds (order-service's deadline and
    /// retries), so after the retention period it is dead weight. Batches
    /// keep each transaction short, so reservations are not held up behind
    /// one large delete on SQLite's single writer.
    pub(crate) async fn prune_settled(&self, before_ms: i64, limit: i64) -> Result<u64> {
        with_db!(&self.db, write, |pool| {
            async {
                let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM reservations WHERE reservation_key IN ( \
                         SELECT reservation_key FROM reservations \
                         WHERE state <> 'RESERVED' AND created_at_ms < $1 LIMIT {})",
                    support::db::limit(limit)
                )))
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected();
                Ok(deleted)
            }
            .await
        })
    }
}

mod batch;
mod log;

pub(crate) use batch::ReserveRequest;
pub(crate) use log::EVENT_LOG;

#[cfg(test)]
mod tests;
