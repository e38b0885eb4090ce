-- The trace of the request behind an order's latest change; see
-- migrations/sqlite/0004.
ALTER TABLE orders ADD COLUMN trace_id TEXT;
ALTER TABLE order_events ADD COLUMN trace_id TEXT;

CREATE OR REPLACE FUNCTION log_order_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest BIGINT;
BEGIN
    UPDATE order_events_seq SET last = last + 1 WHERE id = 1 RETURNING last INTO newest;
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms,
                              trace_id)
    VALUES (newest, NEW.id, NEW.product, NEW.quantity, NEW.status, NEW.reason, NEW.created_at_ms,
            NEW.updated_at_ms, NEW.trace_id);
    PERFORM pg_notify('order_events', newest::text);
    RETURN NULL;
END $$;
