-- Blocked path: the client is opted out (bench_guardrails opts it out first), so the check
-- stops at opted_out and records an outbound_blocked event.
\set n random(1, 1000000000)
SELECT public.check_outbound_guardrails('0d5c2a1e-7b3f-4e6a-9c8d-1f2e3a4b5c6d'::uuid, '55' || (11000000000 + :n)::text, 'followup');
