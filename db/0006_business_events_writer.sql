-- depends: 0005_governance
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The fast path of business events (docs/events.md, "How the hot path is built"; the figures are
-- in bench/README.md, "Business events").
--
-- 1. pgcanary_writer: a role nobody logs in as and nobody is a member of. The functions that
--    write events (emit_event, emit_events, record_event) run as it (SECURITY DEFINER) and
--    validate and scrub their rows themselves, in the statement that inserts them;
--    business_events' insert trigger then trusts rows whose current_user is pgcanary_writer
--    and checks every other row as before. Roles are shared by the databases of a cluster,
--    so no role may stay a member: `pgcanary migrate` takes the membership it needs to
--    replace those functions inside its own transaction and gives it back before committing
--    (python_glue/pgcanary/migrate.py), and pgcanary_private.run_as_writer refuses a role of
--    that name that can log in, bypasses RLS or has members. Created only when missing
--    (another database of the cluster may have it already).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgcanary_writer') THEN
        CREATE ROLE pgcanary_writer NOLOGIN NOINHERIT;
    END IF;
END
$$;
COMMENT ON ROLE pgcanary_writer IS
    'pgcanary: the role emit_event, emit_events and record_event run as (SECURITY DEFINER). No login, no members; business_events trusts its rows (db/0006).';

-- 2. The business-events rollout, decided once per flag write rather than once per event:
--    feature_flags' statement trigger (functions/events.sql, refresh_event_gate) writes here
--    what should_emit_event would decide, as a percentage of buckets and an allowlist, in
--    the same transaction as the flag change (the kill switch still acts on the next call).
--    Reading one small row inside the insert statement costs a fraction of the two flag
--    lookups and the rules over their JSON.
CREATE TABLE pgcanary_private.business_event_gate (
    cohort       text PRIMARY KEY,
    percentage   integer NOT NULL CHECK (percentage BETWEEN 0 AND 100),
    salt         text,
    force_on     jsonb NOT NULL DEFAULT '[]',
    refreshed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE pgcanary_private.business_event_gate IS
    'Derived from feature_flags (business_events_enabled, business_events_canary) by refresh_event_gate: a client is in when its bucket < percentage or it is in force_on. Never written by hand.';

-- 3. business_events' two CHECK constraints move into its insert path. Postgres parses a
--    CHECK expression again for every statement that writes the table (ExecRelCheck ->
--    stringToNode), and for one-row inserts these two cost about as much as the whole
--    rollout decision. The rules stand on every path: the writer functions check them in
--    their insert, and the trigger function checks every other row (PC011), inserts and
--    updates alike. What is lost: a writer that switches triggers off
--    (session_replication_role = replica) is no longer stopped by them; such a writer
--    skips the PII scrub as well, so that path was never covered.
ALTER TABLE public.business_events
    DROP CONSTRAINT IF EXISTS business_events_props_is_object,
    DROP CONSTRAINT IF EXISTS business_events_source_length;

-- Closed to the API before this migration commits (db/0000 says why).
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['pgcanary_private.business_event_gate']::regclass[]); END $$;
