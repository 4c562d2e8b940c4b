SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Rows inserted into sealed rollup buckets (functions/health.sql): appended by the insert
-- trigger and folded by refresh_health_rollup, both running as the caller (service_role).
ALTER TABLE pgcanary_private.health_late_events ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.health_late_events FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, DELETE ON TABLE pgcanary_private.health_late_events TO service_role;
DROP POLICY IF EXISTS "service role lists and folds late events" ON pgcanary_private.health_late_events;
CREATE POLICY "service role lists and folds late events" ON pgcanary_private.health_late_events
    FOR ALL TO service_role USING (true) WITH CHECK (true);
