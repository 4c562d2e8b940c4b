-- depends: 0001_foundation
-- The three flags stay: feature_flags may be the user's table, and a flag a team has turned
-- (a paused assistant, campaigns off) must not silently come back to its default on re-apply.
-- Every other object of 0003 goes, with its data (opt-outs included: take a copy first).
DROP TABLE IF EXISTS public.external_handoffs;
DROP TABLE IF EXISTS pgcanary_private.hash_keys;
DROP TABLE IF EXISTS public.rate_limit_hits;
DROP TABLE IF EXISTS public.rate_limit_rules;
DROP TABLE IF EXISTS public.opt_out_audit;
DROP TABLE IF EXISTS public.opt_outs;
DROP TABLE IF EXISTS public.outbound_methods;
DROP TABLE IF EXISTS public.outbound_channels;
