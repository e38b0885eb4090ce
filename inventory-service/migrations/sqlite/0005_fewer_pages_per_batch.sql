-- Fewer pages written per reservation batch (each page changed is a 4 KiB
-- frame of the write-ahead log, two writes and a checksum at every commit).
--
-- Reservations stored in the b-tree of their key (WITHOUT ROWID) rather
-- than in a table plus an index on the key: a new reservation writes one
-- page where it wrote two. SQLite cannot change this in place: the table
-- is rebuilt, same rows.
CREATE TABLE reservations_rebuilt (
    reservation_key TEXT    PRIMARY KEY,
    product_id      INTEGER REFERENCES products (id),
    quantity        INTEGER NOT NULL,
    -- Comparisons, not `IN (…)`: SQLite checks an IN list of more than
    -- two values against a temporary index it builds at every write.
    state           TEXT    NOT NULL CHECK (state = 'RESERVED' OR state = 'INSUFFICIENT_STOCK'
                                            OR state = 'RELEASED'),
    created_at_ms   INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO reservations_rebuilt (reservation_key, product_id, quantity, state, created_at_ms)
SELECT reservation_key, product_id, quantity, state, created_at_ms FROM reservations;

-- Its index goes with it.
DROP TABLE reservations;
ALTER TABLE reservations_rebuilt RENAME TO reservations;

CREATE INDEX reservations_settled_by_age
    ON reservations (created_at_ms)
    WHERE state <> 'RESERVED';

-- A stock event's number is one past the newest row's (or the counter's,
-- if larger), so the counter `stock_events_seq` is no longer written per
-- event (one more page): SQLite runs one writer at a time, so numbers
-- still follow commit order and a rollback still gives its number back.
-- The counter now moves only when pruning deletes rows above it, so a log
-- pruned empty never hands a number out twice; the log's newest number is
-- the larger of the two (support's `EventLog::bounds`).
-- VALUES, not INSERT … SELECT: an INSERT whose SELECT reads the table it
-- inserts into first copies the rows into a temporary table.
DROP TRIGGER stock_events_on_insert;
DROP TRIGGER stock_events_on_update;

CREATE TRIGGER stock_events_on_insert AFTER INSERT ON products
BEGIN
    INSERT INTO stock_events (seq, product_id, product, stock, version, logged_at_ms)
    VALUES (MAX((SELECT last FROM stock_events_seq WHERE id = 1),
                COALESCE((SELECT MAX(seq) FROM stock_events), 0)) + 1,
            NEW.id, NEW.name, NEW.stock, NEW.version,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

CREATE TRIGGER stock_events_on_update AFTER UPDATE OF version ON products
WHEN NEW.version <> OLD.version
BEGIN
    INSERT INTO stock_events (seq, product_id, product, stock, version, logged_at_ms)
    VALUES (MAX((SELECT last FROM stock_events_seq WHERE id = 1),
                COALESCE((SELECT MAX(seq) FROM stock_events), 0)) + 1,
            NEW.id, NEW.name, NEW.stock, NEW.version,
            CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;

-- A pruned row's number is never handed out again.
CREATE TRIGGER stock_events_pruned AFTER DELETE ON stock_events
WHEN OLD.seq > (SELECT last FROM stock_events_seq WHERE id = 1)
BEGIN
    UPDATE stock_events_seq SET last = OLD.seq WHERE id = 1;
END;
