SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.feature_flag_audit ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.feature_flag_audit FROM PUBLIC, anon, authenticated, service_role;
-- Append-only: rows come from the SECURITY DEFINER audit trigger; service_role reads them.
GRANT SELECT ON TABLE public.feature_flag_audit TO service_role;
DROP POLICY IF EXISTS "service role reads the audit trail" ON public.feature_flag_audit;
CREATE POLICY "service role reads the audit trail" ON public.feature_flag_audit
    FOR SELECT TO service_role USING (true);
