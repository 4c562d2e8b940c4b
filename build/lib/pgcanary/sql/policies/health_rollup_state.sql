SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The health rollup's coverage (one row): read by the panel, moved by refresh_health_rollup.
ALTER TABLE pgcanary_private.health_rollup_state ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.health_rollup_state FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, UPDATE ON TABLE pgcanary_private.health_rollup_state TO service_role;
DROP POLICY IF EXISTS "service role reads and moves the health rollup coverage" ON pgcanary_private.health_rollup_state;
CREATE POLICY "service role reads and moves the health rollup coverage" ON pgcanary_private.health_rollup_state
    FOR ALL TO service_role USING (true) WITH CHECK (true);
