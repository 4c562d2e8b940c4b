SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- yoyo's bookkeeping (see python_glue/pgcanary/migrate.py): for the migrating role only.
REVOKE ALL ON SCHEMA pgcanary_migrations FROM PUBLIC, anon, authenticated, service_role;
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'pgcanary_migrations'::regnamespace AND c.relkind = 'r' LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('REVOKE ALL ON TABLE %s FROM PUBLIC, anon, authenticated, service_role', t);
    END LOOP;
END
$$;
