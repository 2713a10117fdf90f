-- What the server runs for updateCustomer(input: {customerId, phone}): the one guarded
-- statement of src/db/pg/mod.rs (update_customer_sql), its unused parameters as NULL literals.
\set n random(1, :rows)
\set p random(0, 9999)
WITH updated AS (
    UPDATE customers SET
        name = coalesce(NULL::text, name),
        email = coalesce(NULL::text, email),
        email_verified = email_verified AND (NULL::text IS NULL OR lower(NULL::text) = lower(email)),
        phone = CASE WHEN true THEN '+1 555 ' || lpad(:p::text, 4, '0') ELSE phone END,
        address = CASE WHEN false THEN NULL::jsonb ELSE address END,
        password_hash = coalesce(NULL::text, password_hash),
        updated_at = greatest(now(), updated_at + interval '1 microsecond')
    WHERE id = ('00000000-0000-7000-8000-' || lpad(to_hex(:n::int), 12, '0'))::uuid
      AND (NULL::timestamptz IS NULL OR updated_at = NULL::timestamptz)
      AND (NULL::uuid IS NULL OR EXISTS (SELECT 1 FROM sessions WHERE id = NULL::uuid))
      AND (NULL::text <> name OR NULL::text <> email
           OR (true AND '+1 555 ' || lpad(:p::text, 4, '0') IS DISTINCT FROM phone)
           OR (false AND NULL::jsonb IS DISTINCT FROM address)
           OR NULL::text IS NOT NULL)
    RETURNING id, name, email, phone, address, password_hash, email_verified, created_at, updated_at
), ended AS (
    DELETE FROM sessions WHERE NULL::text IS NOT NULL AND customer_id IN (SELECT id FROM updated)
)
SELECT id, name, email, phone, address, password_hash, email_verified, created_at, updated_at
FROM updated;
