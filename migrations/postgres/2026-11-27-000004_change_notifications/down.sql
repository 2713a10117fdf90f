DROP INDEX customers_updated_at;
DROP TRIGGER customer_updated ON customers;
DROP TRIGGER customer_created_or_deleted ON customers;
DROP FUNCTION announce_customer_change();
