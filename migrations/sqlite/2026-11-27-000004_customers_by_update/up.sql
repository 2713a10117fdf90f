-- Replaying what changed during a gap in the live-update feed reads customers by updated_at.
CREATE INDEX customers_updated_at ON customers (updated_at);
