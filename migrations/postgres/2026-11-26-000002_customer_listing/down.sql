DROP INDEX customers_email_trgm_idx;
DROP INDEX customers_name_trgm_idx;
DROP INDEX customers_created_at_id_idx;
