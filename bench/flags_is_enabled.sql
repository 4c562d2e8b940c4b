-- The id is a literal: the cost of evaluation does not depend on which client it is, and
-- pgbench has no uuid variables (building one per call would be measured as ours).
SELECT public.is_enabled('business_events_canary', '6f1c7d2e-9a3b-4c5d-8e7f-0a1b2c3d4e5f'::uuid);
