-- depends: 0005_governance
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- business_events' two CHECK constraints move into its BEFORE triggers (functions/events.sql),
-- which already enforced the first one with our own error (PC011) before the CHECK ran.
-- Why: Postgres parses a CHECK expression again for every statement that writes the table
-- (ExecRelCheck -> stringToNode), and for one-row inserts these two cost more than the whole
-- emit_event rollout decision (bench/README.md, "Business events"). Every path still meets
-- the rules: the insert trigger's WHEN clause checks both in C and sends any other row to
-- business_events_before_write, which raises PC011; updates always run that function. What
-- is lost: a writer that disables triggers (session_replication_role = replica) is no
-- longer stopped by them; such a writer skips the PII scrub as well, so it was never covered.
ALTER TABLE public.business_events
    DROP CONSTRAINT IF EXISTS business_events_props_is_object,
    DROP CONSTRAINT IF EXISTS business_events_source_length;
