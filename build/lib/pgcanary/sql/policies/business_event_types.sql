SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- business_event_types: service_role reads the registry and registers types
-- (register_event_type). No DELETE: events refer to their type.
ALTER TABLE public.business_event_types ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.business_event_types FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE ON TABLE public.business_event_types TO service_role;
DROP POLICY IF EXISTS "service role reads and registers event types" ON public.business_event_types;
CREATE POLICY "service role reads and registers event types" ON public.business_event_types
    FOR ALL TO service_role USING (true) WITH CHECK (true);
-- pgcanary_writer (db/0006) reads the registry inside every event insert.
REVOKE ALL ON TABLE public.business_event_types FROM pgcanary_writer;
GRANT SELECT ON TABLE public.business_event_types TO pgcanary_writer;
DROP POLICY IF EXISTS "pgcanary_writer reads event types" ON public.business_event_types;
CREATE POLICY "pgcanary_writer reads event types" ON public.business_event_types
    FOR SELECT TO pgcanary_writer USING (true);
