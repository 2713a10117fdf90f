\set n random(1, :rows)
SELECT id, name, email, phone, address, password_hash, email_verified, created_at, updated_at
FROM customers WHERE id = ('00000000-0000-7000-8000-' || lpad(to_hex(:n::int), 12, '0'))::uuid;
