-- One NOTIFY per transaction, not one per event: see order-service's
-- migrations/postgres/0006. The relays read the log from the table
-- whatever wakes them; with the same (empty) payload for every row,
-- PostgreSQL folds a transaction's notifications into one.
CREATE OR REPLACE FUNCTION log_stock_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest BIGINT;
BEGIN
    UPDATE stock_events_seq SET last = last + 1 WHERE id = 1 RETURNING last INTO newest;
    INSERT INTO stock_events (seq, product_id, product, stock, version, logged_at_ms)
    VALUES (newest, NEW.id, NEW.name, NEW.stock, NEW.version,
            (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
    PERFORM pg_notify('stock_events', '');
    RETURN NULL;
END $$;
