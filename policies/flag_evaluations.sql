SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- service_role reports evaluations (note_flag_evaluations runs as the caller) and reads them.
ALTER TABLE public.flag_evaluations ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.flag_evaluations FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT, UPDATE (last_evaluated_at) ON TABLE public.flag_evaluations TO service_role;
DROP POLICY IF EXISTS "service role reports flag evaluations" ON public.flag_evaluations;
CREATE POLICY "service role reports flag evaluations" ON public.flag_evaluations
    FOR ALL TO service_role USING (true) WITH CHECK (true);
