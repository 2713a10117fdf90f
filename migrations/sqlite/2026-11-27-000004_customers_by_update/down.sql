DROP INDEX customers_updated_at;
