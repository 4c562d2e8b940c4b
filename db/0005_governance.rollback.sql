-- The trigger on feature_flags writes rollout_history: it goes first, or every flag change
-- would fail once the table is gone. The functions go with their tables (functions/governance.sql
-- re-creates them on the next migrate). The guardrails_canary flag row stays: feature_flags
-- may be the user's table, and the row may have been adopted rather than created by us.
DROP TRIGGER IF EXISTS feature_flags_rollout_history ON public.feature_flags;
DROP TRIGGER IF EXISTS business_events_health_late ON public.business_events;
DROP INDEX IF EXISTS public.business_events_invalid_reply_idx;
DROP TABLE IF EXISTS pgcanary_private.health_rollup, pgcanary_private.health_last_seen, pgcanary_private.health_outbox_rollup,
    pgcanary_private.health_late_events,
    pgcanary_private.health_rollup_state;
DROP VIEW IF EXISTS public.rollout_overview;
DROP FUNCTION IF EXISTS public.rollout_gate(text), public.advance_rollout(text, text, boolean),
    public.rollback_rollout(text, integer, text), public.set_prerequisite(text, text, text, text),
    public.open_incident(text, text, text, jsonb), public.resolve_incident(bigint, text),
    pgcanary_private.feature_flags_rollout_history(), pgcanary_private.label_rollout_change(text, boolean, jsonb),
    pgcanary_private.require_plan(text), pgcanary_private.gate_slo_reasons(timestamptz, timestamptz),
    pgcanary_private.flag_percentage(jsonb), pgcanary_private.flag_is_on(jsonb);
DROP TABLE IF EXISTS public.incidents, public.rollout_history, public.rollout_prerequisites,
    public.rollout_steps, public.rollout_plans;
