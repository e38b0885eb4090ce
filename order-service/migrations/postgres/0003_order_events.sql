-- The order event log; see migrations/sqlite/0003 for what it is.
--
-- On PostgreSQL transactions run side by side, so the numbering needs the
-- counter's row lock: a transaction takes the next numbers at the end of
-- its statement and holds the lock until it commits, so numbers are handed
-- out in commit order, and a rollback gives them back. The counter is
-- taken once per statement (a statement-level trigger), after the
-- statement has locked every order row it changes, so a transaction never
-- waits for an order row while holding the counter: no deadlock. A
-- transaction must therefore change statuses in one statement, or last.
-- `pg_notify` is delivered at commit, and only then: the relays of every
-- replica are woken with the newest seq.
CREATE TABLE order_events (
    seq            BIGINT PRIMARY KEY,
    order_id       BIGINT NOT NULL,
    product        TEXT   NOT NULL,
    quantity       BIGINT NOT NULL,
    status         TEXT   NOT NULL,
    reason         TEXT,
    created_at_ms  BIGINT NOT NULL,
    logged_at_ms   BIGINT NOT NULL
);

CREATE TABLE order_events_seq (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    last BIGINT  NOT NULL
);
INSERT INTO order_events_seq (id, last) VALUES (1, 0);

-- Each appends the orders its statement moved to a visible state, in id
-- order, then notifies the relays.
CREATE FUNCTION log_inserted_orders() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n      BIGINT;
    newest BIGINT;
BEGIN
    SELECT COUNT(*) INTO n FROM new_rows c WHERE c.status <> 'PENDING';
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE order_events_seq SET last = last + n WHERE id = 1 RETURNING last INTO newest;
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms)
    SELECT newest - n + ROW_NUMBER() OVER (ORDER BY c.id), c.id, c.product, c.quantity, c.status,
           c.reason, c.created_at_ms, c.updated_at_ms
    FROM new_rows c WHERE c.status <> 'PENDING';
    PERFORM pg_notify('order_events', newest::text);
    RETURN NULL;
END $$;

CREATE FUNCTION log_updated_orders() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n      BIGINT;
    newest BIGINT;
BEGIN
    SELECT COUNT(*) INTO n FROM new_rows c JOIN old_rows o ON o.id = c.id
    WHERE c.status <> o.status AND c.status <> 'PENDING';
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE order_events_seq SET last = last + n WHERE id = 1 RETURNING last INTO newest;
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms)
    SELECT newest - n + ROW_NUMBER() OVER (ORDER BY c.id), c.id, c.product, c.quantity, c.status,
           c.reason, c.created_at_ms, c.updated_at_ms
    FROM new_rows c JOIN old_rows o ON o.id = c.id
    WHERE c.status <> o.status AND c.status <> 'PENDING';
    PERFORM pg_notify('order_events', newest::text);
    RETURN NULL;
END $$;

CREATE TRIGGER order_events_on_insert AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION log_inserted_orders();

CREATE TRIGGER order_events_on_update AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION log_updated_orders();
