CREATE TABLE floor_rows (
    id       BIGSERIAL PRIMARY KEY,
    key      TEXT    NOT NULL UNIQUE,
    product  TEXT    NOT NULL,
    quantity BIGINT  NOT NULL
);
