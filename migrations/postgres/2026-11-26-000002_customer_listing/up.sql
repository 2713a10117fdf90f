-- Keyset pagination, newest first: (created_at, id) is the sort key and the cursor.
CREATE INDEX customers_created_at_id_idx ON customers (created_at DESC, id DESC);

-- Case-insensitive substring search of name or email (ILIKE '%term%') through trigrams.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX customers_name_trgm_idx ON customers USING gin (name gin_trgm_ops);
CREATE INDEX customers_email_trgm_idx ON customers USING gin (email gin_trgm_ops);
