SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.opt_outs ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.opt_outs FROM PUBLIC, anon, authenticated, service_role;
-- No DELETE: a client opts back in with opt_in(), which keeps the row and its history.
GRANT SELECT, INSERT, UPDATE ON TABLE public.opt_outs TO service_role;
DROP POLICY IF EXISTS "service role records opt-outs and opt-ins" ON public.opt_outs;
CREATE POLICY "service role records opt-outs and opt-ins" ON public.opt_outs
    FOR ALL TO service_role USING (true) WITH CHECK (true);
