-- Issue 16's form: a new client per call; the baseline (flags_random_uuid.sql) pays for the uuid too.
SELECT public.evaluate_flag('business_events_canary', gen_random_uuid());
