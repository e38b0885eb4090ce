-- Units held by RESERVED reservations, per product. A release moves them
-- back into `stock`, so `stock + held` must stay within the int32 range, or
-- restocking could fill stock to the ceiling and the release could never
-- succeed. store.rs changes `held` in the same transaction as the
-- reservation's state, so it always equals the sum below.
-- (SQLite cannot add a table constraint to an existing table; a column
-- CHECK may name other columns, and is checked on every change of the row.)
ALTER TABLE products ADD COLUMN held INTEGER NOT NULL DEFAULT 0
    CHECK (held >= 0 AND stock + held <= 2147483647);

-- A product whose stock and held units already exceed the ceiling fails
-- this update, and with it the migration: such stock could never all be
-- released, and it needs a person to decide which number is wrong.
UPDATE products SET held = (
    SELECT COALESCE(SUM(r.quantity), 0) FROM reservations r
    WHERE r.product_id = products.id AND r.state = 'RESERVED'
);
