SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The outbox's sends, leaks and duplicates per 5-minute bucket (functions/health.sql): maintained by refresh_health_rollup as service_role.
ALTER TABLE pgcanary_private.health_outbox_rollup ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.health_outbox_rollup FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, DELETE ON TABLE pgcanary_private.health_outbox_rollup TO service_role;
DROP POLICY IF EXISTS "service role maintains the outbox duplicate counts" ON pgcanary_private.health_outbox_rollup;
CREATE POLICY "service role maintains the outbox duplicate counts" ON pgcanary_private.health_outbox_rollup
    FOR ALL TO service_role USING (true) WITH CHECK (true);
