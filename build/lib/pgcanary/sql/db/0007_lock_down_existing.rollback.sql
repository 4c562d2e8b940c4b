SET LOCAL search_path TO pg_catalog, pg_temp;
-- Nothing to undo: revoking API privileges is what every later state wants too.
SELECT 1;
