SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Notes of backdated rows for the rollup: appended by the insert trigger (as the writer,
-- service_role), folded in and deleted by refresh_event_rollup.
ALTER TABLE pgcanary_private.business_event_late ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.business_event_late FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, DELETE ON TABLE pgcanary_private.business_event_late TO service_role;
DROP POLICY IF EXISTS "service role notes and folds backdated events" ON pgcanary_private.business_event_late;
CREATE POLICY "service role notes and folds backdated events" ON pgcanary_private.business_event_late
    FOR ALL TO service_role USING (true) WITH CHECK (true);
