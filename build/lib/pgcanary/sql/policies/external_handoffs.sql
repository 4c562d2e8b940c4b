SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.external_handoffs ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.external_handoffs FROM PUBLIC, anon, authenticated, service_role;
-- No DELETE: a handoff ends closed, with who and why.
GRANT SELECT, INSERT, UPDATE ON TABLE public.external_handoffs TO service_role;
DROP POLICY IF EXISTS "service role opens, confirms and closes handoffs" ON public.external_handoffs;
CREATE POLICY "service role opens, confirms and closes handoffs" ON public.external_handoffs
    FOR ALL TO service_role USING (true) WITH CHECK (true);
