SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.circuit_breakers ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.circuit_breakers FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.circuit_breakers TO service_role;
DROP POLICY IF EXISTS "service role operates the circuit breakers" ON public.circuit_breakers;
CREATE POLICY "service role operates the circuit breakers" ON public.circuit_breakers
    FOR ALL TO service_role USING (true) WITH CHECK (true);
