SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.rate_limit_rules ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.rate_limit_rules FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.rate_limit_rules TO service_role;
DROP POLICY IF EXISTS "service role manages rate limit rules" ON public.rate_limit_rules;
CREATE POLICY "service role manages rate limit rules" ON public.rate_limit_rules
    FOR ALL TO service_role USING (true) WITH CHECK (true);
