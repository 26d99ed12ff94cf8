-- Backward compatible: a nullable column; the code that writes it ships in the same release.
ALTER TABLE products ADD COLUMN price_cents integer;
