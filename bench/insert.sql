-- What the server runs for createCustomer by an admin (no password): the one insert of
-- src/db/pg/mod.rs (insert_customer).
INSERT INTO customers (id, name, email, phone, address, password_hash, email_verified, created_at, updated_at)
VALUES (gen_random_uuid(), 'Load Test', gen_random_uuid()::text || '@pgbench.example', '+1 555 0100',
        '{"city": "Austin", "country": "US"}', NULL, false, now(), now());
