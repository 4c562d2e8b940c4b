-- depends: 0013_safety_audit
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- A write made with session_replication_role = replica is audited all the same (our triggers
-- fire ALWAYS, functions/audit.sql) and also leaves one REPLICA_SESSION row per statement, so
-- a replica session is itself on record (issue 14). A new migration, not an edit of 0013:
-- databases that applied 0013 get the wider CHECK too.
ALTER TABLE public.safety_audit DROP CONSTRAINT safety_audit_operation_check;
ALTER TABLE public.safety_audit ADD CONSTRAINT safety_audit_operation_check
    CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'REPLICA_SESSION'));
