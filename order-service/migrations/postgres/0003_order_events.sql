-- The order event log; see migrations/sqlite/0003 for what it is.
--
-- On PostgreSQL transactions run side by side, so the numbering needs the
-- counter's row lock, held until commit: numbers are handed out in commit
-- order, and a rollback gives them back. The triggers are deferred to the
-- commit: the counter is taken only once the transaction has finished its
-- statements, so it is held for the commit alone (never across a round
-- trip to the client, which would make every change in the database wait
-- for it), and never while waiting for an order row: no deadlock.
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

-- Appends the order's new state to the log and notifies the relays.
CREATE FUNCTION log_order_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    newest BIGINT;
BEGIN
    UPDATE order_events_seq SET last = last + 1 WHERE id = 1 RETURNING last INTO newest;
    INSERT INTO order_events (seq, order_id, product, quantity, status, reason, created_at_ms, logged_at_ms)
    VALUES (newest, NEW.id, NEW.product, NEW.quantity, NEW.status, NEW.reason, NEW.created_at_ms,
            NEW.updated_at_ms);
    PERFORM pg_notify('order_events', newest::text);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER order_events_on_insert AFTER INSERT ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.status <> 'PENDING')
    EXECUTE FUNCTION log_order_event();

CREATE CONSTRAINT TRIGGER order_events_on_update AFTER UPDATE OF status ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.status <> OLD.status AND NEW.status <> 'PENDING')
    EXECUTE FUNCTION log_order_event();
