-- The stock event log (an outbox): every committed change of a product's
-- stock (its version moves with it) appends a row, numbered by the one-row
-- counter, in the same transaction. SQLite runs one writer at a time, so
-- numbers follow commit order and a rollback returns its number: the log
-- has no gaps. Each process's relay publishes it to WatchStock streams in
-- seq order (support's event_log); `logged_at_ms` bounds its retention.
CREATE TABLE stock_events (
    seq           INTEGER PRIMARY KEY,
    product_id    INTEGER NOT NULL,
    product       TEXT    NOT NULL,
    stock         INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    logged_at_ms  INTEGER NOT NULL
);

CREATE TABLE stock_events_seq (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
);
INSERT INTO stock_events_seq (id, last) VALUES (1, 0);

CREATE TRIGGER stock_events_on_insert AFTER INSERT ON products
BEGIN
    UPDATE stock_events_seq SET last = last + 1 WHERE id = 1;
    INSERT INTO stock_events (seq, product_id, product, stock, version, logged_at_ms)
    SELECT last, NEW.id, NEW.name, NEW.stock, NEW.version,
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM stock_events_seq WHERE id = 1;
END;

CREATE TRIGGER stock_events_on_update AFTER UPDATE OF version ON products
WHEN NEW.version <> OLD.version
BEGIN
    UPDATE stock_events_seq SET last = last + 1 WHERE id = 1;
    INSERT INTO stock_events (seq, product_id, product, stock, version, logged_at_ms)
    SELECT last, NEW.id, NEW.name, NEW.stock, NEW.version,
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM stock_events_seq WHERE id = 1;
END;
