-- Same as migrations/sqlite/0003_held_stock.sql (see the comments there).
ALTER TABLE products ADD COLUMN held BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0);

UPDATE products p SET held = r.total
FROM (
    SELECT product_id, SUM(quantity) AS total FROM reservations
    WHERE state = 'RESERVED' GROUP BY product_id
) r
WHERE r.product_id = p.id;

ALTER TABLE products ADD CONSTRAINT products_stock_and_held_within_int32
    CHECK (stock + held <= 2147483647);
