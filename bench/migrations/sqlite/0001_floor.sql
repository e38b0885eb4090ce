-- The single-row commit floor writes here: a row shaped like an order.
CREATE TABLE floor_rows (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    key      TEXT    NOT NULL UNIQUE,
    product  TEXT    NOT NULL,
    quantity INTEGER NOT NULL
);
