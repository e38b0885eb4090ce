-- Products and their stock. `version` increases on every stock change so
-- watchers can drop stale events; the CHECKs are the last line of defence
-- behind the conditional updates in store.rs (stock is an int32 on the wire).
CREATE TABLE products (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT    NOT NULL UNIQUE,
    stock   INTEGER NOT NULL CHECK (stock >= 0 AND stock <= 2147483647),
    version INTEGER NOT NULL DEFAULT 0
);

-- One row per reservation key, ever: the key's first outcome is kept so a
-- retried reservation answers the same, and a release that arrives first
-- leaves a tombstone (product_id NULL, state RELEASED) that fails the late
-- reservation.
CREATE TABLE reservations (
    reservation_key TEXT    PRIMARY KEY,
    product_id      INTEGER REFERENCES products (id),
    quantity        INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('RESERVED', 'INSUFFICIENT_STOCK', 'RELEASED')),
    created_at_ms   INTEGER NOT NULL
);

INSERT INTO products (name, stock) VALUES
    ('Laptop', 10),
    ('Phone', 20),
    ('Tablet', 15),
    ('Headphones', 40),
    ('Monitor', 8);
