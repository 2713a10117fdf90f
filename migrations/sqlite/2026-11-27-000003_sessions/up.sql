-- Sessions replace the token version (see the PostgreSQL migration). Ids and instants are
-- text, hashes blobs.
ALTER TABLE customers DROP COLUMN token_version;
ALTER TABLE customers ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    customer_id   TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    refresh_hash  BLOB NOT NULL UNIQUE,
    previous_hash BLOB UNIQUE,
    user_agent    TEXT,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);
CREATE INDEX sessions_customer_idx ON sessions (customer_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE account_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('reset', 'verify')),
    email       TEXT,
    expires_at  TEXT NOT NULL
);
CREATE INDEX account_tokens_customer_idx ON account_tokens (customer_id);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);

CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY NOT NULL,
    request_hash BLOB NOT NULL,
    response     TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

CREATE TABLE admin_token_cutoff (
    singleton     INTEGER PRIMARY KEY NOT NULL DEFAULT 1 CHECK (singleton = 1),
    issued_before TEXT NOT NULL
);

ALTER TABLE login_failures RENAME TO throttled_attempts;
ALTER TABLE throttled_attempts RENAME COLUMN failed_at TO at;
ALTER TABLE throttled_attempts ADD COLUMN action TEXT NOT NULL DEFAULT 'login'
    CHECK (action IN ('login', 'reset', 'verify'));
DROP INDEX login_failures_email_idx;
DROP INDEX login_failures_client_idx;
DROP INDEX login_failures_failed_at_idx;
CREATE INDEX throttled_attempts_at_idx ON throttled_attempts (at);
CREATE INDEX throttled_attempts_email_idx ON throttled_attempts (action, email_key, at);
CREATE INDEX throttled_attempts_client_idx ON throttled_attempts (action, client_addr, at);
