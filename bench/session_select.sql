\set n random(1, :sessions)
SELECT c.id, c.name, c.email, c.phone, c.address, c.password_hash, c.email_verified, c.created_at, c.updated_at
FROM customers c JOIN sessions s ON s.customer_id = c.id
WHERE c.id = ('00000000-0000-7000-8000-' || lpad(to_hex(:n::int * 97), 12, '0'))::uuid
  AND s.id = ('00000000-0000-7000-9000-' || lpad(to_hex(:n::int), 12, '0'))::uuid
  AND s.expires_at > now();
