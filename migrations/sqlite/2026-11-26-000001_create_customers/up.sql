-- Timestamps are RFC 3339 text in UTC (Diesel's TimestamptzSqlite); ids are UUID text;
-- the address is a JSON object as text.
CREATE TABLE customers (
    id            TEXT    PRIMARY KEY NOT NULL,
    name          TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    phone         TEXT,
    address       TEXT    CHECK (address IS NULL OR json_type(address) = 'object'),
    password_hash TEXT,
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);
CREATE UNIQUE INDEX customers_email_lower_key ON customers (lower(email));

CREATE TABLE login_failures (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    email_key   TEXT    NOT NULL,
    client_addr TEXT,
    failed_at   TEXT    NOT NULL
);
CREATE INDEX login_failures_email_idx ON login_failures (email_key, failed_at);
CREATE INDEX login_failures_client_idx ON login_failures (client_addr, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);
