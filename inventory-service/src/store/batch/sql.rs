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

/// `INSERT … ON CONFLICT DO NOTHING RETURNING reservation_key, product_id`
/// claiming every key of `first` (a key and its first request) whose
/// product exists, in key order. (SQLite's claim of one key is
/// [`claim_and_take_one`].)
pub(super) fn claims_query<'a, DB: sqlx::Database>(
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
