SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.rollout_history ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.rollout_history FROM PUBLIC, anon, authenticated, service_role;
-- Append-only: rows come from the SECURITY DEFINER trigger on feature_flags; service_role reads them.
GRANT SELECT ON TABLE public.rollout_history TO service_role;
DROP POLICY IF EXISTS "service role reads the rollout history" ON public.rollout_history;
CREATE POLICY "service role reads the rollout history" ON public.rollout_history
    FOR SELECT TO service_role USING (true);
-- The history trigger is SECURITY DEFINER: nobody calls it directly, not even service_role.
REVOKE ALL ON FUNCTION pgcanary_private.feature_flags_rollout_history() FROM PUBLIC, anon, authenticated, service_role;
