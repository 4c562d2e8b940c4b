SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.safety_audit ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.safety_audit FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON SEQUENCE public.safety_audit_audit_id_seq FROM PUBLIC, anon, authenticated, service_role;
-- Append-only: rows come from the SECURITY DEFINER trigger of functions/audit.sql; service_role reads them.
GRANT SELECT ON TABLE public.safety_audit TO service_role;
DROP POLICY IF EXISTS "service role reads the safety trail" ON public.safety_audit;
CREATE POLICY "service role reads the safety trail" ON public.safety_audit
    FOR SELECT TO service_role USING (true);
REVOKE ALL ON FUNCTION pgcanary_private.safety_audit_row() FROM PUBLIC, anon, authenticated, service_role;
