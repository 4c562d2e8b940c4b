SET LOCAL search_path TO pg_catalog, pg_temp;
-- The owner column is kept: its values are what people typed about their flags (as the rows of
-- an adopted feature_flags are kept), and a nullable text column breaks no older code.
SELECT 1;
