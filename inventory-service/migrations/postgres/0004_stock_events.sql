-- The stock event log; see migrations/sqlite/0004 for what it is.
--
-- Transactions run side by side here, so the numbering needs the counter's
-- row lock: a transaction takes its numbers at the end of the statement
-- that changes stock and holds the lock until it commits, so numbers are
-- handed out in commit order, and a rollback gives them back. The counter
-- is taken once per statement (a statement-level trigger), after every
-- product row the statement changes is locked, and the store changes stock
-- in the last statement of its transactions, so the lock is held for the
-- commit only and no transaction waits for a row while holding it.
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

CREATE FUNCTION log_inserted_products() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n      BIGINT;
    newest BIGINT;
BEGIN
    SELECT COUNT(*) INTO n FROM new_rows;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE stock_events_seq SET last = last + n WHERE id = 1 RETURNING last INTO newest;
    INSERT INTO stock_events (seq, product_id, product, stock, version, logged_at_ms)
    SELECT newest - n + ROW_NUMBER() OVER (ORDER BY c.id), c.id, c.name, c.stock, c.version,
           (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
    FROM new_rows c;
    PERFORM pg_notify('stock_events', newest::text);
    RETURN NULL;
END $$;

CREATE FUNCTION log_updated_products() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n      BIGINT;
    newest BIGINT;
BEGIN
    SELECT COUNT(*) INTO n FROM new_rows c JOIN old_rows o ON o.id = c.id
    WHERE c.version <> o.version;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE stock_events_seq SET last = last + n WHERE id = 1 RETURNING last INTO newest;
    INSERT INTO stock_events (seq, product_id, product, stock, version, logged_at_ms)
    SELECT newest - n + ROW_NUMBER() OVER (ORDER BY c.id), c.id, c.name, c.stock, c.version,
           (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT
    FROM new_rows c JOIN old_rows o ON o.id = c.id
    WHERE c.version <> o.version;
    PERFORM pg_notify('stock_events', newest::text);
    RETURN NULL;
END $$;

CREATE TRIGGER stock_events_on_insert AFTER INSERT ON products
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION log_inserted_products();

CREATE TRIGGER stock_events_on_update AFTER UPDATE ON products
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION log_updated_products();
