CREATE TABLE customers (
    id            uuid        PRIMARY KEY,
    name          text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    email         text        NOT NULL CHECK (char_length(email) <= 254),
    phone         text        CHECK (char_length(phone) BETWEEN 3 AND 32),
    address       jsonb       CHECK (jsonb_typeof(address) = 'object'),
    password_hash text,
    -- Bumped on every password change; tokens that carry an older value are revoked.
    token_version integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- One customer per email, compared case-insensitively; also serves login look-ups.
CREATE UNIQUE INDEX customers_email_lower_key ON customers (lower(email));

-- Failed logins, counted per email and per client address to throttle guessing across
-- every server instance that shares this database.
CREATE TABLE login_failures (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_key   text        NOT NULL,
    client_addr inet,
    failed_at   timestamptz NOT NULL
);
CREATE INDEX login_failures_email_idx ON login_failures (email_key, failed_at DESC);
CREATE INDEX login_failures_client_idx ON login_failures (client_addr, failed_at DESC);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);
