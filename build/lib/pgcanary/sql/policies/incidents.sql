SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.incidents ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.incidents FROM PUBLIC, anon, authenticated;
-- No DELETE: an incident blocks the rollout gates during its stability window, and deleting
-- one would clear a NO-GO without a trace. resolve_incident closes it.
GRANT SELECT, INSERT, UPDATE ON TABLE public.incidents TO service_role;
DROP POLICY IF EXISTS "service role opens and resolves incidents" ON public.incidents;
CREATE POLICY "service role opens and resolves incidents" ON public.incidents
    FOR ALL TO service_role USING (true) WITH CHECK (true);
