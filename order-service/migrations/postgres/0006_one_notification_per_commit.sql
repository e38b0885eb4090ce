-- One NOTIFY per transaction, not one per event. The relays read the log
-- from the table whatever wakes them, so the payload carried nothing they
-- used; with the same (empty) payload for every row, PostgreSQL folds a
-- transaction's notifications into one: a batch of N settled orders wakes
-- each listening replica once instead of N times.
CREATE OR REPLACE FUNCTION log_order_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest BIGINT;
BEGIN
    UPDATE order_events_seq SET last = last + 1 WHERE id = 1 RETURNING last INTO newest;
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms,
                              trace_id)
    VALUES (newest, NEW.id, NEW.product, NEW.quantity, NEW.status, NEW.reason, NEW.created_at_ms,
            NEW.updated_at_ms, NEW.trace_id);
    PERFORM pg_notify('order_events', '');
    RETURN NULL;
END $$;
