-- Orders. `order_key` is the order's unique key, also its reservation key at
-- inventory. `release_pending` marks an order whose stock inventory may still
-- hold and must be released (cancelled, or rejected after an unanswered
-- reservation): the reconciler clears it once inventory confirms.
CREATE TABLE orders (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    order_key        TEXT    NOT NULL UNIQUE,
    product          TEXT    NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    status           TEXT    NOT NULL CHECK (status IN ('PENDING', 'CREATED', 'REJECTED', 'CANCELLED')),
    reason           TEXT,
    release_pending  BOOLEAN NOT NULL DEFAULT FALSE,
    -- A client's Idempotency-Key and a fingerprint of its request body.
    idempotency_key  TEXT    UNIQUE,
    request_hash     TEXT,
    created_at_ms    INTEGER NOT NULL,
    updated_at_ms    INTEGER NOT NULL
);

-- The reconciler's work list stays tiny however many orders there are.
CREATE INDEX orders_unsettled ON orders (id) WHERE status = 'PENDING' OR release_pending = TRUE;
