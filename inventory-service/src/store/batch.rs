//! Many reservations in one transaction (`ReserveStockBatch`).
//!
//! The transaction makes the same decisions as [`Store::reserve`] makes one
//! key at a time, with a few statements for the whole batch instead of
//! three per key:
//! 1. Claim every new key in one `INSERT … ON CONFLICT DO NOTHING`, in key
//!    order (so two batches sharing keys take their index entries in the
//!    same order and cannot deadlock on PostgreSQL).
//! 2. Read what the keys it could not claim already are.
//! 3. Per product (in id order), take everything the new claims ask of it
//!    in one conditional `UPDATE … WHERE stock >= total` (on PostgreSQL
//!    one UPDATE for all the products, which locks them in id order
//!    first: a round trip each would add up); only when a product has
//!    less than the total, read (and on PostgreSQL lock) it.
//! 4. Decide each reservation in the order given against the running stock,
//!    in memory: none can oversell, and each gets its own answer.
//! 5. Write each product that was only read once, with what its decisions
//!    took, and mark the claims that found too little stock.
//!
//! In the common case (enough stock) a batch is a few statements whatever
//! its size: BEGIN, the claims, one UPDATE per product (on PostgreSQL, one
//! for all), COMMIT. On SQLite a batch of one key (every call, when calls
//! come one at a time) sends BEGIN, its claim and its UPDATE to the
//! connection's thread in one go, and then COMMIT: two hand-offs.
//!
//! Locks are always taken keys first, then products, as by the single-key
//! path, so batches and single calls cannot deadlock either.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use support::with_db;

use super::{Reservation, Store, now_ms, reused, unknown};
use crate::{
    domain::{ProductName, Quantity, ReservationKey, ReservationState},
    error::{Error, Result},
};

mod sql;

use sql::{BatchSql, TAKE_RETURNING, TAKE_THEN_READ, claim_and_take_one, push_list};

/// One reservation of a batch, validated.
#[derive(Clone, Debug)]
pub(crate) struct ReserveRequest {
    /// The caller's unique key.
    pub(crate) key: ReservationKey,
    /// What to reserve.
    pub(crate) product: ProductName,
    /// How many.
    pub(crate) quantity: Quantity,
}

/// A key recorded before this batch: its state, quantity and product
/// (`None` for a tombstone).
struct Known {
    state: ReservationState,
    quantity: i64,
    product: Option<String>,
}

/// A product's row while the batch decides.
struct Stock {
    id: i64,
    /// Running stock: before the batch, less what its decisions took.
    stock: i64,
    /// What the batch's decisions took.
    taken: i64,
    /// The row already has the batch's change (or needs none).
    written: bool,
}

impl Store {
    /// Decides `batch` in one transaction, in the order given: each entry
    /// answers as [`Store::reserve`] would have answered it, or with the
    /// error it would have failed with. Fails as a whole only when the
    /// database does (and then nothing is written).
    pub(crate) async fn reserve_batch(
        &self,
        batch: &[ReserveRequest],
    ) -> Result<Vec<Result<Reservation>>> {
        let _span = support::db_span!("reserve batch transaction", self.db.system());
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // The first request of each key claims it; later ones are retries.
        let mut first: BTreeMap<&str, &ReserveRequest> = BTreeMap::new();
        for r in batch {
            first.entry(r.key.as_str()).or_insert(r);
        }
        let names: Vec<&str> = {
            let mut names: Vec<&str> = batch.iter().map(|r| r.product.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names
        };
        // NO KEY: the claims' foreign keys hold KEY SHARE locks on these
        // rows (ours and other batches'), which FOR UPDATE would wait for.
        let sqlite = self.db.postgres().is_none();
        let (lock, take) = if sqlite {
            ("", TAKE_THEN_READ)
        } else {
            (" FOR NO KEY UPDATE", TAKE_RETURNING)
        };
        let now = now_ms();
        // The first request of a batch of one key (every call when calls
        // come one at a time).
        let one = match first.len() {
            1 => first.values().next().copied(),
            _ => None,
        };
        let (answers, changed) = with_db!(&self.db, write, |pool| {
            async {
                let mut tx = pool.begin().await?;

                let mut claimed: Vec<(String, i64)> = Vec::new();
                // What the claims took already (SQLite, one key): product
                // id, name, stock left.
                let mut took: Option<(i64, String, i64)> = None;
                let rows = match (sqlite, one) {
                    (true, Some(r)) => claim_and_take_one(r, now).fetch_all(&mut *tx).await?,
                    _ => BatchSql::claims(&first, now).build().fetch_all(&mut *tx).await?,
                };
                for row in rows {
                    if row.len() == 3 {
                        took = Some((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
                    } else {
                        claimed.push((row.try_get(0)?, row.try_get(1)?));
                    }
                }
                // Units the new claims ask of each product, in id order.
                let mut asked: BTreeMap<i64, i64> = BTreeMap::new();
                for (key, product_id) in &claimed {
                    let quantity = first.get(key.as_str()).map_or(0, |r| r.quantity.get());
                    *asked.entry(*product_id).or_default() += quantity;
                }
                let mut claimed: HashMap<String, Option<ReservationState>> =
                    claimed.into_iter().map(|(k, _)| (k, None)).collect();

                let mut known: HashMap<String, Known> = HashMap::new();
                if claimed.len() < first.len() {
                    let mut query = sqlx::QueryBuilder::new(
                        "SELECT r.reservation_key, r.state, r.quantity, p.name FROM reservations r \
                         LEFT JOIN products p ON p.id = r.product_id WHERE r.reservation_key IN ",
                    );
                    push_list(
                        &mut query,
                        first.keys().copied().filter(|k| !claimed.contains_key(*k)),
                    );
                    for row in query.build().fetch_all(&mut *tx).await? {
                        known.insert(
                            row.try_get(0)?,
                            Known {
                                state: ReservationState::from_db(&row.try_get::<String, _>(1)?)?,
                                quantity: row.try_get(2)?,
                                product: row.try_get(3)?,
                            },
                        );
                    }
                }

                // Each product first gives everything asked of it in one
                // conditional UPDATE (id order: the lock order), which is
                // the common case; only a product short of the total is read
                // (and locked) to decide its reservations one by one.
                let mut stock: HashMap<String, Stock> = HashMap::new();
                if took.as_ref().is_some_and(|(id, ..)| !asked.contains_key(id)) {
                    return Err(Error::Internal("a batch took stock for no claim".into()));
                }
                // Where the backend takes from every product in one
                // statement (two or more products): what it took.
                let mut took_all: Option<HashMap<i64, (String, i64)>> = None;
                if asked.len() > 1
                    && let Some(mut query) = BatchSql::take_all(&asked)
                {
                    let mut all = HashMap::new();
                    for row in query.build().fetch_all(&mut *tx).await? {
                        all.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
                    }
                    took_all = Some(all);
                }
                for (&id, &sum) in &asked {
                    let given: Option<(String, i64)> = match (&took, &mut took_all) {
                        (Some((taken_from, name, after)), _) if *taken_from == id => {
                            Some((name.clone(), *after))
                        }
                        (_, Some(all)) => all.remove(&id),
                        _ => sqlx::query_as(take)
                            .bind(sum)
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?,
                    };
                    let (name, before, written) = match given {
                        Some((name, after)) => (name, after + sum, true),
                        None => {
                            let (name, current): (String, i64) = sqlx::query_as(sqlx::AssertSqlSafe(
                                format!("SELECT name, stock FROM products WHERE id = $1{lock}"),
                            ))
                            .bind(id)
                            .fetch_one(&mut *tx)
                            .await?;
                            (name, current, false)
                        }
                    };
                    stock.insert(name, Stock { id, stock: before, taken: 0, written });
                }
                // Products only retried keys name: their stock, for the answers.
                let unread: Vec<&str> =
                    names.iter().copied().filter(|n| !stock.contains_key(*n)).collect();
                if !unread.is_empty() {
                    let mut query =
                        sqlx::QueryBuilder::new("SELECT id, name, stock FROM products WHERE name IN ");
                    push_list(&mut query, unread);
                    for row in query.build().fetch_all(&mut *tx).await? {
                        stock.insert(
                            row.try_get(1)?,
                            Stock { id: row.try_get(0)?, stock: row.try_get(2)?, taken: 0, written: true },
                        );
                    }
                }

                let mut short: Vec<&str> = Vec::new();
                let answers: Vec<Result<Reservation>> = batch
                    .iter()
                    .map(|r| decide(r, &first, &mut claimed, &known, &mut stock, &mut short))
                    .collect();

                for (name, s) in &stock {
                    let expected = if s.written { asked.get(&s.id).copied().unwrap_or(0) } else { s.taken };
                    if s.taken != expected {
                        // The decisions must take exactly what was written.
                        return Err(Error::Internal(format!(
                            "a batch took {} of {name:?} but wrote {expected}", s.taken
                        )));
                    }
                    if s.written || s.taken == 0 {
                        continue;
                    }
                    let updated = sqlx::query(
                        "UPDATE products SET stock = stock - $1, held = held + $1, version = version + 1 \
                         WHERE id = $2 AND stock >= $1",
                    )
                    .bind(s.taken)
                    .bind(s.id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if updated != 1 {
                        // The row was read and locked in this transaction.
                        return Err(Error::Internal(format!(
                            "stock of {name:?} changed under a batch"
                        )));
                    }
                }
                let changed = stock.values().any(|s| s.taken > 0);
                if !short.is_empty() {
                    let mut query = sqlx::QueryBuilder::new(
                        "UPDATE reservations SET state = 'INSUFFICIENT_STOCK' WHERE reservation_key IN ",
                    );
                    push_list(&mut query, short.iter().copied());
                    query.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok::<_, Error>((answers, changed))
            }
            .await
        })?;
        if changed {
            self.committed.wake();
        }
        Ok(answers)
    }
}

/// Decides one reservation of a batch. `first` is each key's first
/// request, `claimed` the keys this batch claimed (with their state once
/// decided), `known` the keys recorded before it, `stock` the running
/// stock; claimed keys that found too little stock are added to `short`.
fn decide<'a>(
    r: &'a ReserveRequest,
    first: &BTreeMap<&str, &ReserveRequest>,
    claimed: &mut HashMap<String, Option<ReservationState>>,
    known: &HashMap<String, Known>,
    stock: &mut HashMap<String, Stock>,
    short: &mut Vec<&'a str>,
) -> Result<Reservation> {
    let key = r.key.as_str();
    let name = r.product.as_str();
    let quantity = r.quantity.get();
    if let Some(decided) = claimed.get_mut(key) {
        // A key given twice: the first request decides, a repeat of it gets
        // the same answer, another request under the key is refused.
        if let Some(f) = first
            .get(key)
            .filter(|f| f.product != r.product || f.quantity != r.quantity)
        {
            return Err(reused(key, f.quantity.get(), f.product.as_str()));
        }
        let s = stock
            .get_mut(name)
            .ok_or_else(|| Error::Internal(format!("claimed {key:?} for a product not read")))?;
        let state = match *decided {
            Some(state) => state,
            None if s.stock >= quantity => {
                s.stock -= quantity;
                s.taken += quantity;
                ReservationState::Reserved
            }
            None => {
                short.push(key);
                ReservationState::InsufficientStock
            }
        };
        *decided = Some(state);
        return Ok(Reservation {
            state,
            stock: s.stock,
            change: None,
        });
    }
    let Some(k) = known.get(key) else {
        // Neither claimed nor recorded: the product does not exist.
        return Err(unknown(&r.product));
    };
    let current = stock.get(name).map(|s| s.stock);
    match &k.product {
        // A tombstone: released before it was reserved.
        None => Ok(Reservation {
            state: k.state,
            stock: current.ok_or_else(|| unknown(&r.product))?,
            change: None,
        }),
        Some(recorded) if recorded != name || k.quantity != quantity => {
            Err(reused(key, k.quantity, recorded))
        }
        Some(_) => Ok(Reservation {
            state: k.state,
            stock: current.unwrap_or(0),
            change: None,
        }),
    }
}
