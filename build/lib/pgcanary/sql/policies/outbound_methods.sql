SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.outbound_methods ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.outbound_methods FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.outbound_methods TO service_role;
DROP POLICY IF EXISTS "service role manages outbound methods and their hours" ON public.outbound_methods;
CREATE POLICY "service role manages outbound methods and their hours" ON public.outbound_methods
    FOR ALL TO service_role USING (true) WITH CHECK (true);
