SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The triggers first: the one on feature_flags writes rollout_history, the one on
-- business_events writes health_late_events, and every flag change or event insert would fail
-- once those tables are gone. Then the views and functions of functions/governance.sql and
-- functions/health.sql (re-created by the next migrate), then the tables. The guardrails_canary
-- flag row stays: feature_flags may be the user's table, and the row may have been adopted
-- rather than created by us.
DROP TRIGGER IF EXISTS feature_flags_rollout_history ON public.feature_flags;
DROP TRIGGER IF EXISTS business_events_health_late ON public.business_events;
DROP VIEW IF EXISTS public.rollout_overview, public.health_slo_panel, public.health_q1_volume,
    public.health_q2_guardrail_reasons, public.health_q3_invalid_replies, public.health_q4_provider_errors,
    public.health_q5_fallbacks, pgcanary_private.health_event_facts;
DROP FUNCTION IF EXISTS
    public.rollout_gate(text), public.advance_rollout(text, text, boolean),
    public.rollback_rollout(text, integer, text), public.set_prerequisite(text, text, text, text),
    public.open_incident(text, text, text, jsonb), public.resolve_incident(bigint, text), public.guard_tick(),
    public.refresh_health_rollup(boolean), public.daily_health_volume(), public.daily_health(),
    pgcanary_private.feature_flags_rollout_history(), pgcanary_private.label_rollout_change(text, boolean, jsonb),
    pgcanary_private.require_plan(text), pgcanary_private.gate_slo_reasons(timestamptz, timestamptz),
    pgcanary_private.flag_percentage(jsonb), pgcanary_private.flag_is_on(jsonb),
    pgcanary_private.business_events_health_late(), pgcanary_private.note_health_late(uuid, timestamptz),
    pgcanary_private.health_clients(timestamptz),
    pgcanary_private.health_counts(timestamptz, timestamptz), pgcanary_private.health_outbox_totals(timestamptz, timestamptz),
    pgcanary_private.health_rollup_lock_key(), pgcanary_private.health_rollup_window(timestamptz, timestamptz),
    pgcanary_private.opt_out_intervals(),
    pgcanary_private.outbox_counts(timestamptz, timestamptz),
    pgcanary_private.slo_values(timestamptz, timestamptz);
DROP INDEX IF EXISTS public.business_events_invalid_reply_idx;
DROP TABLE IF EXISTS pgcanary_private.health_rollup, pgcanary_private.health_last_seen,
    pgcanary_private.health_outbox_rollup, pgcanary_private.health_late_events,
    pgcanary_private.health_rollup_state;
DROP TABLE IF EXISTS public.incidents, public.rollout_history, public.rollout_prerequisites,
    public.rollout_steps, public.rollout_plans;
