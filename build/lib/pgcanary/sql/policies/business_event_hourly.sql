SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The hourly rollup behind the rollout metrics: written by refresh_event_rollup and by the
-- insert trigger for backdated rows, both running as the caller (service_role).
ALTER TABLE pgcanary_private.business_event_hourly ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.business_event_hourly FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE pgcanary_private.business_event_hourly TO service_role;
DROP POLICY IF EXISTS "service role maintains the hourly event counts" ON pgcanary_private.business_event_hourly;
CREATE POLICY "service role maintains the hourly event counts" ON pgcanary_private.business_event_hourly
    FOR ALL TO service_role USING (true) WITH CHECK (true);
