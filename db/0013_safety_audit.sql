-- depends: 0012_outbox_payload_retention
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- One trail for the safety tables that had none (issue 14, DESIGN.md invariant 5): a raw
-- INSERT, UPDATE or DELETE of a rate-limit rule, a rollout plan, step or prerequisite, an
-- incident, a method, a channel, an event type, a handoff or a breaker's state leaves a row
-- here with the old and the new row, the actor and the reason; so does an owner's edit of
-- another trail. Written only by the SECURITY DEFINER trigger of functions/audit.sql; no role
-- may change or delete a row (PC063), nor TRUNCATE it (PC060).
CREATE TABLE public.safety_audit (
    audit_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    changed_at timestamptz NOT NULL DEFAULT now(),
    table_name text NOT NULL,
    operation  text NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    old_row    jsonb,
    new_row    jsonb,
    actor      text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    db_user    text NOT NULL DEFAULT session_user
);
CREATE INDEX safety_audit_table_idx ON public.safety_audit (table_name, changed_at);
COMMENT ON TABLE public.safety_audit IS
    'Append-only trail of raw changes to the safety tables without a trail of their own (rate_limit_rules, rollout_*, incidents, outbound_methods, outbound_channels, business_event_types, external_handoffs, circuit_breakers state) and of owner edits of the other trails. Rows cannot be changed or deleted (PC063).';

-- Closed to the API before this migration commits (db/0000 says why).
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['public.safety_audit']::regclass[]); END $$;
