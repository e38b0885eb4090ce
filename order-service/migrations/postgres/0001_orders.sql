-- Same schema as migrations/sqlite (see the comments there).
CREATE TABLE orders (
    id               BIGSERIAL PRIMARY KEY,
    order_key        TEXT    NOT NULL UNIQUE,
    product          TEXT    NOT NULL,
    quantity         BIGINT  NOT NULL CHECK (quantity > 0),
    status           TEXT    NOT NULL CHECK (status IN ('PENDING', 'CREATED', 'REJECTED', 'CANCELLED')),
    reason           TEXT,
    release_pending  BOOLEAN NOT NULL DEFAULT FALSE,
    idempotency_key  TEXT    UNIQUE,
    request_hash     TEXT,
    created_at_ms    BIGINT  NOT NULL,
    updated_at_ms    BIGINT  NOT NULL
);

CREATE INDEX orders_unsettled ON orders (id) WHERE status = 'PENDING' OR release_pending = TRUE;
