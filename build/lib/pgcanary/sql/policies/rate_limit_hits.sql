SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.rate_limit_hits ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.rate_limit_hits FROM PUBLIC, anon, authenticated, service_role;
-- Hits are written by rate_limit_hit / check_outbound_guardrails and deleted by
-- cleanup_rate_limits, all SECURITY INVOKER; no UPDATE: a hit is a fact.
GRANT SELECT, INSERT, DELETE ON TABLE public.rate_limit_hits TO service_role;
DROP POLICY IF EXISTS "service role records and expires rate limit hits" ON public.rate_limit_hits;
CREATE POLICY "service role records and expires rate limit hits" ON public.rate_limit_hits
    FOR ALL TO service_role USING (true) WITH CHECK (true);
