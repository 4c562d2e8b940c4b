SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- business_event_gate: derived from feature_flags by refresh_event_gate (SECURITY DEFINER,
-- its owner writes it). pgcanary_writer reads it inside every emit_event; nobody else needs it.
ALTER TABLE pgcanary_private.business_event_gate ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE pgcanary_private.business_event_gate FROM PUBLIC, anon, authenticated, service_role, pgcanary_writer;
GRANT SELECT ON TABLE pgcanary_private.business_event_gate TO pgcanary_writer;
DROP POLICY IF EXISTS "pgcanary_writer reads the gate" ON pgcanary_private.business_event_gate;
CREATE POLICY "pgcanary_writer reads the gate" ON pgcanary_private.business_event_gate
    FOR SELECT TO pgcanary_writer USING (true);
