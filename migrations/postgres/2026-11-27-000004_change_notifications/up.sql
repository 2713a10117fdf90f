-- Every committed change to a customer is announced on channel customer_changes, from the
-- writing transaction (NOTIFY is delivered only if it commits, in commit order). The payload
-- names the change, never the data: {"kind": "CREATED" | "UPDATED" | "DELETED", "id": <uuid>,
-- "at": <microseconds since the Unix epoch>}.
CREATE FUNCTION announce_customer_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('customer_changes', json_build_object(
            'kind', 'DELETED', 'id', OLD.id,
            'at', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)::text);
        RETURN OLD;
    END IF;
    PERFORM pg_notify('customer_changes', json_build_object(
        'kind', CASE TG_OP WHEN 'INSERT' THEN 'CREATED' ELSE 'UPDATED' END, 'id', NEW.id,
        'at', (extract(epoch FROM NEW.updated_at) * 1000000)::bigint)::text);
    RETURN NEW;
END
$$;

CREATE TRIGGER customer_created_or_deleted AFTER INSERT OR DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION announce_customer_change();

-- Only real changes: a write that sets what is already there announces nothing.
CREATE TRIGGER customer_updated AFTER UPDATE ON customers
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION announce_customer_change();

-- Replaying what changed during a gap in the feed reads customers by updated_at.
CREATE INDEX customers_updated_at ON customers (updated_at);
