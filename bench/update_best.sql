-- The least SQL that can set a customer's phone: one plain statement.
\set n random(1, :rows)
\set p random(0, 9999)
UPDATE customers SET phone = '+1 555 ' || lpad(:p::text, 4, '0'), updated_at = now()
WHERE id = ('00000000-0000-7000-8000-' || lpad(to_hex(:n::int), 12, '0'))::uuid;
