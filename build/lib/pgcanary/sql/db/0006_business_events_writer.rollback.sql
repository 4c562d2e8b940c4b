SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- The functions that read the gate or run as pgcanary_writer go first (re-created by the
-- next migrate), with the feature_flags trigger that fills the gate: flag writes would fail
-- once the table is gone.
DROP TRIGGER IF EXISTS feature_flags_event_gate ON public.feature_flags;
DROP FUNCTION IF EXISTS public.emit_event(text, uuid, uuid, jsonb), public.emit_events(jsonb),
    pgcanary_private.record_event(text, uuid, uuid, jsonb, text), pgcanary_private.refresh_event_gate(),
    pgcanary_private.feature_flags_event_gate(), pgcanary_private.run_as_writer(regprocedure[]);
DROP TABLE IF EXISTS pgcanary_private.business_event_gate;
-- NOT VALID: rows written meanwhile were checked on their way in; no scan of every partition.
ALTER TABLE public.business_events
    ADD CONSTRAINT business_events_props_is_object CHECK (jsonb_typeof(event_props) = 'object') NOT VALID,
    ADD CONSTRAINT business_events_source_length CHECK (char_length(source) BETWEEN 1 AND 63) NOT VALID;
-- The role goes when nothing else holds on to it (another database of the cluster may).
-- REASSIGN needs the privileges of the role: membership is taken for this transaction only.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgcanary_writer') THEN
        GRANT pgcanary_writer TO CURRENT_USER;
        REASSIGN OWNED BY pgcanary_writer TO CURRENT_USER;
        DROP OWNED BY pgcanary_writer;
        BEGIN
            DROP ROLE pgcanary_writer;
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role pgcanary_writer kept: objects in another database depend on it';
            REVOKE pgcanary_writer FROM CURRENT_USER;
        END;
    END IF;
END
$$;
