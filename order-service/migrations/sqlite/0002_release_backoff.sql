-- Releases inventory keeps refusing back off per order (`release_after_ms`
-- is when the next attempt is due, `release_attempts` how many failed), so
-- an order whose release cannot succeed never holds up the others.
ALTER TABLE orders ADD COLUMN release_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN release_after_ms INTEGER NOT NULL DEFAULT 0;

-- The reconciler's two work lists, each a range scan over its own rows
-- only, however many orders there are: releases by when they are due, and
-- pending orders by age (to find those whose request died).
DROP INDEX orders_unsettled;
CREATE INDEX orders_awaiting_release ON orders (release_after_ms, id) WHERE release_pending = TRUE;
CREATE INDEX orders_pending ON orders (created_at_ms, id) WHERE status = 'PENDING';
