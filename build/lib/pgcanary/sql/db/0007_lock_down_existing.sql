-- depends: 0000_lock_down 0006_business_events_writer
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Databases installed before db/0000 existed: their sequences (identity columns of the audit
-- tables, incidents, rollout_history) kept the grants Supabase's default privileges gave anon
-- and authenticated, and `setval` on an audit sequence breaks audit inserts. A fresh install
-- has locked all of this already (each migration calls lock_down); here it is a no-op.
DO $$
BEGIN
    PERFORM pgcanary_private.lock_down(ARRAY[
        'public.feature_flags', 'public.feature_flag_audit', 'public.business_event_types',
        'public.business_events', 'public.outbound_channels', 'public.outbound_methods',
        'public.opt_outs', 'public.opt_out_audit', 'public.rate_limit_rules', 'public.rate_limit_hits',
        'public.external_handoffs', 'public.circuit_breakers', 'public.outbound_messages',
        'public.outbound_message_audit', 'public.rollout_plans', 'public.rollout_steps',
        'public.rollout_prerequisites', 'public.rollout_history', 'public.incidents']::regclass[]);
END
$$;
