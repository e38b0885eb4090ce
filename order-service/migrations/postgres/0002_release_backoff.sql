-- Same as migrations/sqlite/0002 (see the comments there).
ALTER TABLE orders ADD COLUMN release_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN release_after_ms BIGINT NOT NULL DEFAULT 0;

DROP INDEX orders_unsettled;
CREATE INDEX orders_awaiting_release ON orders (release_after_ms, id) WHERE release_pending = TRUE;
CREATE INDEX orders_pending ON orders (created_at_ms, id) WHERE status = 'PENDING';
