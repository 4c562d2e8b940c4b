SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.phone_opt_outs ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.phone_opt_outs FROM PUBLIC, anon, authenticated, service_role;
-- Read-only for the API role: the rows change through opt_out / opt_in, which hash the phone.
GRANT SELECT ON TABLE public.phone_opt_outs TO service_role;
DROP POLICY IF EXISTS "service role reads phone opt-outs" ON public.phone_opt_outs;
CREATE POLICY "service role reads phone opt-outs" ON public.phone_opt_outs
    FOR SELECT TO service_role USING (true);
