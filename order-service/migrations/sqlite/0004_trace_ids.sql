-- The trace of the request behind an order's latest change (W3C trace id,
-- 32 hex digits; NULL when none), copied into the change's event so a live
-- event names the trace that caused it.
ALTER TABLE orders ADD COLUMN trace_id TEXT;
ALTER TABLE order_events ADD COLUMN trace_id TEXT;

DROP TRIGGER order_events_on_insert;
DROP TRIGGER order_events_on_update;

CREATE TRIGGER order_events_on_insert AFTER INSERT ON orders
WHEN NEW.status <> 'PENDING'
BEGIN
    UPDATE order_events_seq SET last = last + 1 WHERE id = 1;
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms, trace_id)
    SELECT last, NEW.id, NEW.product, NEW.quantity, NEW.status, NEW.reason, NEW.created_at_ms, NEW.updated_at_ms, NEW.trace_id
    FROM order_events_seq WHERE id = 1;
END;

CREATE TRIGGER order_events_on_update AFTER UPDATE OF status ON orders
WHEN NEW.status <> OLD.status AND NEW.status <> 'PENDING'
BEGIN
    UPDATE order_events_seq SET last = last + 1 WHERE id = 1;
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms, trace_id)
    SELECT last, NEW.id, NEW.product, NEW.quantity, NEW.status, NEW.reason, NEW.created_at_ms, NEW.updated_at_ms, NEW.trace_id
    FROM order_events_seq WHERE id = 1;
END;
