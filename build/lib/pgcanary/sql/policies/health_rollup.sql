SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The health rollup (functions/health.sql): written by refresh_health_rollup and by the
-- refresh folding late events, running as the caller (service_role).
ALTER TABLE pgcanary_private.health_rollup ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.health_rollup FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE pgcanary_private.health_rollup TO service_role;
DROP POLICY IF EXISTS "service role maintains the health rollup" ON pgcanary_private.health_rollup;
CREATE POLICY "service role maintains the health rollup" ON pgcanary_private.health_rollup
    FOR ALL TO service_role USING (true) WITH CHECK (true);
