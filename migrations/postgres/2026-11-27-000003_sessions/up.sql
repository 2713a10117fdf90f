-- Sessions replace the token version: a customer's access token names its session, and a
-- session that is gone (logout, a password change, reuse of a spent refresh token) takes its
-- tokens with it.
ALTER TABLE customers DROP COLUMN token_version;
ALTER TABLE customers ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

CREATE TABLE sessions (
    id            uuid        PRIMARY KEY,
    customer_id   uuid        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    -- SHA-256 of the current refresh token; the token itself is never stored.
    refresh_hash  bytea       NOT NULL UNIQUE,
    -- SHA-256 of the refresh token rotated away last: presenting it again is reuse.
    previous_hash bytea       UNIQUE,
    user_agent    text        CHECK (char_length(user_agent) <= 256),
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_customer_idx ON sessions (customer_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Single-use links mailed to customers: password resets and email verifications.
CREATE TABLE account_tokens (
    token_hash  bytea       PRIMARY KEY,
    customer_id uuid        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    purpose     text        NOT NULL CHECK (purpose IN ('reset', 'verify')),
    -- For a verification: the address it proves.
    email       text,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX account_tokens_customer_idx ON account_tokens (customer_id);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);

-- The Idempotency-Key of createCustomer: the first answer, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    key          text        PRIMARY KEY CHECK (char_length(key) <= 255),
    request_hash bytea       NOT NULL,
    -- Null while the first request runs.
    response     text,
    created_at   timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- `customer-api token --revoke-admin`: admin tokens issued before this instant fail.
CREATE TABLE admin_token_cutoff (
    singleton     boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    issued_before timestamptz NOT NULL
);

-- Throttled actions, counted per email key and per client network: logins (failed, or still
-- checking their password) and requests for password-reset and verification mail.
ALTER TABLE login_failures RENAME TO throttled_attempts;
ALTER TABLE throttled_attempts RENAME COLUMN failed_at TO at;
ALTER TABLE throttled_attempts ADD COLUMN action text NOT NULL DEFAULT 'login'
    CHECK (action IN ('login', 'reset', 'verify'));
ALTER TABLE throttled_attempts ALTER COLUMN action DROP DEFAULT;
DROP INDEX login_failures_email_idx;
DROP INDEX login_failures_client_idx;
ALTER INDEX login_failures_failed_at_idx RENAME TO throttled_attempts_at_idx;
CREATE INDEX throttled_attempts_email_idx ON throttled_attempts (action, email_key, at DESC);
CREATE INDEX throttled_attempts_client_idx ON throttled_attempts (action, client_addr, at DESC);
