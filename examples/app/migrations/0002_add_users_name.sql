-- Expand: a nullable column; old code ignores it, new code writes it.
ALTER TABLE users ADD COLUMN display_name text;
