SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.opt_out_audit ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.opt_out_audit FROM PUBLIC, anon, authenticated, service_role;
-- Append-only: rows come from the SECURITY DEFINER trigger on opt_outs; service_role reads them.
GRANT SELECT ON TABLE public.opt_out_audit TO service_role;
DROP POLICY IF EXISTS "service role reads the opt-out audit trail" ON public.opt_out_audit;
CREATE POLICY "service role reads the opt-out audit trail" ON public.opt_out_audit
    FOR SELECT TO service_role USING (true);
-- Nobody calls the audit trigger function directly (00_private_schema.sql grants every
-- private function to service_role; this file runs after it).
REVOKE ALL ON FUNCTION pgcanary_private.opt_outs_audit() FROM service_role;
