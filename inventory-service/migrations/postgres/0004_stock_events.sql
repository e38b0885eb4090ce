-- The stock event log; see migrations/sqlite/0004 for what it is.
--
-- Transactions run side by side here, so the numbering needs the counter's
-- row lock, held until commit: numbers are handed out in commit order, and
-- a rollback gives them back. The triggers are deferred to the commit: the
-- counter is taken only once the transaction has finished its statements,
-- so it is held for the commit alone (never across a round trip to the
-- client: measured, that halved the reservation rate, every reservation
-- of every product waiting for it), and never while waiting for a row.
-- `pg_notify` is delivered at commit, and only then, to every replica.
CREATE TABLE stock_events (
    seq           BIGINT PRIMARY KEY,
    product_id    BIGINT NOT NULL,
    product       TEXT   NOT NULL,
    stock         BIGINT NOT NULL,
    version       BIGINT NOT NULL,
    logged_at_ms  BIGINT NOT NULL
);

CREATE TABLE stock_events_seq (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last BIGINT  NOT NULL
);
INSERT INTO stock_events_seq (id, last) VALUES (1, 0);

-- Appends the product's new stock to the log and notifies the relays.
CREATE FUNCTION log_stock_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest BIGINT;
BEGIN
    UPDATE stock_events_seq SET last = last + 1 WHERE id = 1 RETURNING last INTO newest;
    INSERT INTO stock_events (seq, product_id, product, stock, version, logged_at_ms)
    VALUES (newest, NEW.id, NEW.name, NEW.stock, NEW.version,
            (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
    PERFORM pg_notify('stock_events', newest::text);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER stock_events_on_insert AFTER INSERT ON products
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    EXECUTE FUNCTION log_stock_event();

CREATE CONSTRAINT TRIGGER stock_events_on_update AFTER UPDATE OF version ON products
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.version <> OLD.version)
    EXECUTE FUNCTION log_stock_event();
