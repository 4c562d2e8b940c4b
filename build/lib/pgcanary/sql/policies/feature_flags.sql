SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.feature_flags ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.feature_flags FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.feature_flags TO service_role;
-- service_role bypasses RLS on Supabase; the policy states the intent and covers a
-- service_role created without BYPASSRLS.
DROP POLICY IF EXISTS "service role manages flags" ON public.feature_flags;
CREATE POLICY "service role manages flags" ON public.feature_flags
    FOR ALL TO service_role USING (true) WITH CHECK (true);
