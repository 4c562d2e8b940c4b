SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- yoyo's bookkeeping (see python_glue/pgcanary/migrate.py): for the migrating role only.
REVOKE ALL ON SCHEMA pgcanary_migrations FROM PUBLIC, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgcanary_migrations REVOKE ALL ON TABLES FROM PUBLIC, anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgcanary_migrations REVOKE ALL ON SEQUENCES FROM PUBLIC, anon, authenticated;
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid FROM pg_catalog.pg_class c
             WHERE c.relnamespace = 'pgcanary_migrations'::regnamespace AND c.relkind IN ('r', 'S') LOOP
        IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t) = 'r' THEN
            EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        END IF;
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC, anon, authenticated, service_role', t);
    END LOOP;
END
$$;
