-- Keyset pagination, newest first. Substring search is a scan on SQLite.
CREATE INDEX customers_created_at_id_idx ON customers (created_at DESC, id DESC);
