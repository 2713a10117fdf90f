INSERT INTO customers (id, name, email, phone, address, created_at, updated_at)
VALUES (gen_random_uuid(), 'Load Test', gen_random_uuid()::text || '@pgbench.example', '+1 555 0100',
        '{"city": "Austin", "country": "US"}', now(), now());
