SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- NOT VALID: rows written meanwhile were checked by the trigger; no scan of every partition.
ALTER TABLE public.business_events
    ADD CONSTRAINT business_events_props_is_object CHECK (jsonb_typeof(event_props) = 'object') NOT VALID,
    ADD CONSTRAINT business_events_source_length CHECK (char_length(source) BETWEEN 1 AND 63) NOT VALID;
