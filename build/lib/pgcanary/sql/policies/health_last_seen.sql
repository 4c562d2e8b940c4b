SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Latest event per (type, client) of the last 25 h, for Q1's distinct clients
-- (functions/health.sql): maintained like the rollup, by service_role.
ALTER TABLE pgcanary_private.health_last_seen ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.health_last_seen FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE pgcanary_private.health_last_seen TO service_role;
DROP POLICY IF EXISTS "service role maintains the last seen clients" ON pgcanary_private.health_last_seen;
CREATE POLICY "service role maintains the last seen clients" ON pgcanary_private.health_last_seen
    FOR ALL TO service_role USING (true) WITH CHECK (true);
