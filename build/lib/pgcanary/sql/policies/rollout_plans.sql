SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.rollout_plans ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.rollout_plans FROM PUBLIC, anon, authenticated;
-- Plans are configuration: the backend and the SQL Editor edit them (docs/governance.md).
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.rollout_plans TO service_role;
DROP POLICY IF EXISTS "service role manages rollout plans" ON public.rollout_plans;
CREATE POLICY "service role manages rollout plans" ON public.rollout_plans
    FOR ALL TO service_role USING (true) WITH CHECK (true);
