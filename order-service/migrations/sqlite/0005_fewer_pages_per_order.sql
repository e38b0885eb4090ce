-- Fewer pages written per order (each page changed is a 4 KiB frame of the
-- write-ahead log, two writes and a checksum at every commit):
-- - no AUTOINCREMENT: it kept a counter in `sqlite_sequence`, one more page
--   per insert, to promise that the id of a deleted newest row is never
--   used again; orders are never deleted, and without it SQLite takes the
--   largest id + 1, the same ids;
-- - the Idempotency-Key index only holds the orders that have a key
--   (SQLite indexes NULLs too: one more page per keyless order);
-- - an event's number is one past the newest row's (or the counter's, if
--   larger), so the counter `order_events_seq` is no longer written per
--   event (one more page): SQLite runs one writer at a time, so numbers
--   still follow commit order and a rollback still gives its number back.
--   The counter now moves only when pruning deletes rows above it, so a
--   log pruned empty never hands a number out twice; the log's newest
--   number is the larger of the two (support's `EventLog::bounds`).
-- SQLite cannot change either in place: the table is rebuilt, same rows
-- and ids, with its indexes and triggers (and its status check written so
-- that checking it builds nothing).
CREATE TABLE orders_rebuilt (
    id               INTEGER PRIMARY KEY,
    order_key        TEXT    NOT NULL UNIQUE,
    product          TEXT    NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    -- Comparisons, not `IN (…)`: SQLite checks an IN list of more than
    -- two values against a temporary index it builds at every write.
    status           TEXT    NOT NULL CHECK (status = 'PENDING' OR status = 'CREATED'
                                             OR status = 'REJECTED' OR status = 'CANCELLED'),
    reason           TEXT,
    release_pending  BOOLEAN NOT NULL DEFAULT FALSE,
    idempotency_key  TEXT,
    request_hash     TEXT,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL,
    release_attempts INTEGER NOT NULL DEFAULT 0,
    release_after_ms INTEGER NOT NULL DEFAULT 0,
    trace_id         TEXT
);

INSERT INTO orders_rebuilt (id, order_key, product, quantity, status, reason, release_pending,
                            idempotency_key, request_hash, created_at_ms, updated_at_ms,
                            release_attempts, release_after_ms, trace_id)
SELECT id, order_key, product, quantity, status, reason, release_pending,
       idempotency_key, request_hash, created_at_ms, updated_at_ms,
       release_attempts, release_after_ms, trace_id
FROM orders;

-- Its indexes, triggers and `sqlite_sequence` row go with it.
DROP TABLE orders;
ALTER TABLE orders_rebuilt RENAME TO orders;

CREATE UNIQUE INDEX orders_idempotency_key ON orders (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_awaiting_release ON orders (release_after_ms, id) WHERE release_pending = TRUE;
CREATE INDEX orders_pending ON orders (created_at_ms, id) WHERE status = 'PENDING';

-- A new event: the next number after the newest row's and the counter's.
-- VALUES, not INSERT … SELECT: an INSERT whose SELECT reads the table it
-- inserts into first copies the rows into a temporary table.
CREATE TRIGGER order_events_on_insert AFTER INSERT ON orders
WHEN NEW.status <> 'PENDING'
BEGIN
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms, trace_id)
    VALUES (MAX((SELECT last FROM order_events_seq WHERE id = 1),
                COALESCE((SELECT MAX(seq) FROM order_events), 0)) + 1,
            NEW.id, NEW.product, NEW.quantity, NEW.status, NEW.reason, NEW.created_at_ms, NEW.updated_at_ms, NEW.trace_id);
END;

CREATE TRIGGER order_events_on_update AFTER UPDATE OF status ON orders
WHEN NEW.status <> OLD.status AND NEW.status <> 'PENDING'
BEGIN
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms, trace_id)
    VALUES (MAX((SELECT last FROM order_events_seq WHERE id = 1),
                COALESCE((SELECT MAX(seq) FROM order_events), 0)) + 1,
            NEW.id, NEW.product, NEW.quantity, NEW.status, NEW.reason, NEW.created_at_ms, NEW.updated_at_ms, NEW.trace_id);
END;

-- A pruned row's number is never handed out again.
CREATE TRIGGER order_events_pruned AFTER DELETE ON order_events
WHEN OLD.seq > (SELECT last FROM order_events_seq WHERE id = 1)
BEGIN
    UPDATE order_events_seq SET last = OLD.seq WHERE id = 1;
END;
