-- Same schema as migrations/sqlite (see the comments there).
CREATE TABLE products (
    id      BIGSERIAL PRIMARY KEY,
    name    TEXT   NOT NULL UNIQUE,
    stock   BIGINT NOT NULL CHECK (stock >= 0 AND stock <= 2147483647),
    version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE reservations (
    reservation_key TEXT   PRIMARY KEY,
    product_id      BIGINT REFERENCES products (id),
    quantity        BIGINT NOT NULL,
    state           TEXT   NOT NULL CHECK (state IN ('RESERVED', 'INSUFFICIENT_STOCK', 'RELEASED')),
    created_at_ms   BIGINT NOT NULL
);

INSERT INTO products (name, stock) VALUES
    ('Laptop', 10),
    ('Phone', 20),
    ('Tablet', 15),
    ('Headphones', 40),
    ('Monitor', 8);
