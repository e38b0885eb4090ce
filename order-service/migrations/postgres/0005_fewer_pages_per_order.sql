-- The Idempotency-Key index only holds the orders that have a key: a
-- keyless order (most of them) adds no index entry. Lookups by key and
-- `ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL` use it.
CREATE UNIQUE INDEX orders_idempotency_key ON orders (idempotency_key) WHERE idempotency_key IS NOT NULL;
ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key_key;
