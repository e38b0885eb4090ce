-- The order event log (an outbox): every change of an order's status to a
-- state clients see (not PENDING) appends a row, numbered by the one-row
-- counter, in the same transaction as the change. The triggers make that
-- true of every statement, present and future. SQLite runs one writer at a
-- time, so numbers follow commit order and a rollback returns its number:
-- the log has no gaps. The relay publishes it in seq order (support's
-- event_log); `logged_at_ms` bounds its retention by age.
CREATE TABLE order_events (
    seq            INTEGER PRIMARY KEY,
    order_id       INTEGER NOT NULL,
    product        TEXT    NOT NULL,
    quantity       INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    reason         TEXT,
    created_at_ms  INTEGER NOT NULL,
    logged_at_ms   INTEGER NOT NULL
);

CREATE TABLE order_events_seq (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
);
INSERT INTO order_events_seq (id, last) VALUES (1, 0);

CREATE TRIGGER order_events_on_insert AFTER INSERT ON orders
WHEN NEW.status <> 'PENDING'
BEGIN
    UPDATE order_events_seq SET last = last + 1 WHERE id = 1;
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms)
    SELECT last, NEW.id, NEW.product, NEW.quantity, NEW.status, NEW.reason, NEW.created_at_ms, NEW.updated_at_ms
    FROM order_events_seq WHERE id = 1;
END;

CREATE TRIGGER order_events_on_update AFTER UPDATE OF status ON orders
WHEN NEW.status <> OLD.status AND NEW.status <> 'PENDING'
BEGIN
    UPDATE order_events_seq SET last = last + 1 WHERE id = 1;
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms)
    SELECT last, NEW.id, NEW.product, NEW.quantity, NEW.status, NEW.reason, NEW.created_at_ms, NEW.updated_at_ms
    FROM order_events_seq WHERE id = 1;
END;
