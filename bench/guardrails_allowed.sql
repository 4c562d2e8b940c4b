-- Allowed path: every check runs and the send is counted (lock, count, insert). A random
-- phone per call keeps every phone under its limit, as real traffic spread over clients is.
\set n random(1, 1000000000)
SELECT public.check_outbound_guardrails('6f1c7d2e-9a3b-4c5d-8e7f-0a1b2c3d4e5f'::uuid, '55' || (11000000000 + :n)::text, 'followup');
