//! The statements of a batch (see `batch`), built for either backend.

use std::collections::BTreeMap;

use super::ReserveRequest;

/// Appends `(v1, v2, …)` with the values bound.
pub(super) fn push_list<'a, DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    values: impl IntoIterator<Item = &'a str>,
) where
    for<'t> &'a str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    query.push("(");
    let mut list = query.separated(", ");
    for v in values {
        list.push_bind(v);
    }
    query.push(")");
}

/// Takes `$1` of product `$2` if it has that much; answers its name and
/// new stock, or no row.
pub(super) const TAKE_RETURNING: &str = "UPDATE products \
     SET stock = stock - $1, held = held + $1, version = version + 1 \
     WHERE id = $2 AND stock >= $1 RETURNING name, stock";

/// [`TAKE_RETURNING`] for SQLite: the same answer read back by a second
/// statement that runs with the UPDATE in one go (`changes()` says whether
/// it took), because for `RETURNING` SQLite builds a temporary table.
pub(super) const TAKE_THEN_READ: &str = "UPDATE products \
     SET stock = stock - $1, held = held + $1, version = version + 1 \
     WHERE id = $2 AND stock >= $1; \
     SELECT name, stock FROM products WHERE id = $2 AND changes() = 1";

/// The claim of one key on SQLite, with its stock taken in the same go.
/// Its parameters are `?`, bound in order across the four statements (see
/// [`claim_and_take_one`]): SQLite's numbered `$N` would make sqlx
/// look each one up by name.
///
/// For `RETURNING` SQLite builds temporary tables, so the claim is read
/// back by a second statement run with it (`changes()` says whether it
/// claimed); and its stock is taken as [`TAKE_THEN_READ`] takes it: one
/// hand-off to the connection's thread instead of two. The UPDATE's
/// `changes() = 1` is the INSERT's (a SELECT does not change it), so stock
/// is taken only for a key claimed here, and only if there is enough. Its
/// row, `id, name, stock` (three columns, to tell it from a claim's two),
/// is there only when it took. A constant: nothing is built per call.
const CLAIM_AND_TAKE_ONE: &str = "INSERT INTO reservations \
     (reservation_key, product_id, quantity, state, created_at_ms) \
     SELECT ?, id, ?, 'RESERVED', ? FROM products WHERE name = ? \
     ON CONFLICT (reservation_key) DO NOTHING; \
     SELECT ?, id FROM products WHERE name = ? AND changes() = 1; \
     UPDATE products SET stock = stock - ?, held = held + ?, version = version + 1 \
     WHERE name = ? AND stock >= ? AND changes() = 1; \
     SELECT id, name, stock FROM products WHERE name = ? AND changes() = 1";

/// [`CLAIM_AND_TAKE_ONE`] for request `r` at `now`, its values bound.
/// Generic only so that code written for both backends compiles: SQLite
/// alone runs it.
pub(super) fn claim_and_take_one<'a, DB: sqlx::Database>(
    r: &'a ReserveRequest,
    now: i64,
) -> sqlx::query::Query<'a, DB, DB::Arguments>
where
    for<'t> &'a str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let (key, product, quantity) = (r.key.as_str(), r.product.as_str(), r.quantity.get());
    sqlx::query(CLAIM_AND_TAKE_ONE)
        // The claim, and its read-back.
        .bind(key)
        .bind(quantity)
        .bind(now)
        .bind(product)
        .bind(key)
        .bind(product)
        // The take, and its read-back.
        .bind(quantity)
        .bind(quantity)
        .bind(product)
        .bind(quantity)
        .bind(product)
}

/// The statements of a batch that each backend writes its own way.
pub(super) trait BatchSql: sqlx::Database {
    /// `INSERT … ON CONFLICT DO NOTHING RETURNING reservation_key,
    /// product_id` claiming every key of `first` (a key and its first
    /// request) whose product exists, in key order. (SQLite's claim of one
    /// key is [`claim_and_take_one`].)
    fn claims(first: &BTreeMap<&str, &ReserveRequest>, now: i64) -> sqlx::QueryBuilder<Self>;

    /// One statement that takes, from each product of `asked` (id → units,
    /// two or more) that has that many, all of it, answering `id, name,
    /// stock` of each product it took from; `None` where each product
    /// takes its own UPDATE.
    fn take_all(asked: &BTreeMap<i64, i64>) -> Option<sqlx::QueryBuilder<Self>>;
}

/// SQLite has no arrays; its statements cost no round trip each.
impl BatchSql for sqlx::Sqlite {
    fn claims(first: &BTreeMap<&str, &ReserveRequest>, now: i64) -> sqlx::QueryBuilder<Self> {
        claims_query(first, now)
    }

    fn take_all(_: &BTreeMap<i64, i64>) -> Option<sqlx::QueryBuilder<Self>> {
        None
    }
}

/// On PostgreSQL every statement is a round trip, and a statement's text
/// that changes with the batch's size is parsed and planned anew (a round
/// trip more) whenever that size is new to the connection's statement
/// cache. So the values go in arrays, one per column, and the texts are
/// constants: each connection prepares them once.
impl BatchSql for sqlx::Postgres {
    fn claims(first: &BTreeMap<&str, &ReserveRequest>, now: i64) -> sqlx::QueryBuilder<Self> {
        let mut claim = sqlx::QueryBuilder::new(
            "INSERT INTO reservations (reservation_key, product_id, quantity, state, created_at_ms) \
             SELECT v.k, p.id, v.q, 'RESERVED', ",
        );
        claim
            .push_bind(now)
            .push(" FROM UNNEST(")
            .push_bind(first.keys().copied().collect::<Vec<_>>())
            .push("::text[], ")
            .push_bind(
                first
                    .values()
                    .map(|r| r.product.as_str())
                    .collect::<Vec<_>>(),
            )
            .push("::text[], ")
            .push_bind(first.values().map(|r| r.quantity.get()).collect::<Vec<_>>())
            .push(
                "::bigint[]) AS v (k, n, q) JOIN products p ON p.name = v.n ORDER BY v.k \
                 ON CONFLICT (reservation_key) DO NOTHING RETURNING reservation_key, product_id",
            );
        claim
    }

    /// The rows are locked first, in id order (the order every batch and
    /// single call locks products in: no deadlock), then updated where
    /// they have enough; a row updated meanwhile by a transaction that
    /// committed is re-checked as any UPDATE re-checks it.
    fn take_all(asked: &BTreeMap<i64, i64>) -> Option<sqlx::QueryBuilder<Self>> {
        let mut take = sqlx::QueryBuilder::new("WITH asked AS (SELECT * FROM UNNEST(");
        take.push_bind(asked.keys().copied().collect::<Vec<_>>())
            .push("::bigint[], ")
            .push_bind(asked.values().copied().collect::<Vec<_>>())
            .push(
                "::bigint[]) AS a (id, n)), \
                 locked AS MATERIALIZED (SELECT id FROM products WHERE id IN (SELECT id FROM asked) \
                 ORDER BY id FOR NO KEY UPDATE) \
                 UPDATE products p SET stock = p.stock - a.n, held = p.held + a.n, \
                 version = p.version + 1 FROM asked a \
                 WHERE p.id = a.id AND p.stock >= a.n AND p.id IN (SELECT id FROM locked) \
                 RETURNING p.id, p.name, p.stock",
            );
        Some(take)
    }
}

/// [`BatchSql::claims`] on SQLite (and the text it would be on any
/// backend without arrays).
fn claims_query<'a, DB: sqlx::Database>(
    first: &BTreeMap<&'a str, &'a ReserveRequest>,
    now: i64,
) -> sqlx::QueryBuilder<DB>
where
    for<'t> &'a str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut claim = sqlx::QueryBuilder::new(
        "INSERT INTO reservations (reservation_key, product_id, quantity, state, created_at_ms) ",
    );
    let mut keys = first.iter();
    if let (Some((key, r)), None) = (keys.next(), keys.next()) {
        // A batch of one (every call when calls come one at a time) needs
        // no table of values to join and sort: SQLite would build two.
        claim
            .push("SELECT ")
            .push_bind(*key)
            .push(", id, ")
            .push_bind(r.quantity.get())
            .push(", 'RESERVED', ")
            .push_bind(now)
            .push(" FROM products WHERE name = ")
            .push_bind(r.product.as_str());
    } else {
        claim.push("SELECT v.column1, p.id, v.column3, 'RESERVED', ");
        claim.push_bind(now).push(" FROM (VALUES ");
        let mut rows = claim.separated(", ");
        for r in first.values() {
            rows.push("(")
                .push_bind_unseparated(r.key.as_str())
                .push_unseparated(", ")
                .push_bind_unseparated(r.product.as_str())
                .push_unseparated(", ")
                .push_bind_unseparated(r.quantity.get())
                .push_unseparated(")");
        }
        // `WHERE` rather than `JOIN … ON`: SQLite would read that `ON` as
        // the start of the upsert clause.
        claim.push(") AS v, products p WHERE p.name = v.column2 ORDER BY v.column1");
    }
    claim.push(" ON CONFLICT (reservation_key) DO NOTHING RETURNING reservation_key, product_id");
    claim
}
