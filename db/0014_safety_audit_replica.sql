-- depends: 0013_safety_audit
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- A write made with session_replication_role = replica is audited all the same (our triggers
-- fire ALWAYS, functions/audit.sql) and also leaves one REPLICA_SESSION row per statement, so
-- a replica session is itself on record (issue 14). A new migration, not an edit of 0013:
-- databases that applied 0013 get the wider CHECK too.
ALTER TABLE public.safety_audit DROP CONSTRAINT safety_audit_operation_check;
ALTER TABLE public.safety_audit ADD CONSTRAINT safety_audit_operation_check
    CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'REPLICA_SESSION'));

-- How many rows each trail should hold, kept by a trigger in the writing transaction
-- (functions/audit.sql): a rolled-back write rolls its count back too, so unlike a gap in the
-- ids a difference means rows that vanished, or appeared, while the trigger was off.
-- health_security_audit_sequences compares it with count(*). Owner only.
CREATE TABLE pgcanary_private.trail_rows (
    table_name text PRIMARY KEY,
    row_count  bigint NOT NULL
);
COMMENT ON TABLE pgcanary_private.trail_rows IS
    'Rows each audit trail should hold, counted by the trail_rows trigger; compared with count(*) by health_security_audit_sequences.';
INSERT INTO pgcanary_private.trail_rows (table_name, row_count)
SELECT 'feature_flag_audit', count(*) FROM public.feature_flag_audit
UNION ALL SELECT 'opt_out_audit', count(*) FROM public.opt_out_audit
UNION ALL SELECT 'outbound_message_audit', count(*) FROM public.outbound_message_audit
UNION ALL SELECT 'rollout_history', count(*) FROM public.rollout_history
UNION ALL SELECT 'safety_audit', count(*) FROM public.safety_audit;
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['pgcanary_private.trail_rows']::regclass[]); END $$;
REVOKE ALL ON TABLE pgcanary_private.trail_rows FROM service_role;
