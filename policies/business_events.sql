SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- business_events: service_role reads and appends (emit_event, record_event and the health
-- queries). No UPDATE or DELETE: events are facts; retention drops whole days
-- (maintain_event_partitions). Partitions live in pgcanary_private with RLS on and no grants,
-- so nobody reaches them except through this table (maintain_event_partitions sets that up
-- for each new day; the loop below covers the existing ones).
ALTER TABLE public.business_events ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.business_events FROM PUBLIC, anon, authenticated, service_role;
GRANT SELECT, INSERT ON TABLE public.business_events TO service_role;
DROP POLICY IF EXISTS "service role reads and appends business events" ON public.business_events;
CREATE POLICY "service role reads and appends business events" ON public.business_events
    FOR ALL TO service_role USING (true) WITH CHECK (true);
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits AS i
                WHERE i.inhparent = 'public.business_events'::regclass LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', part);
        EXECUTE format('REVOKE ALL ON TABLE %s FROM PUBLIC, anon, authenticated, service_role', part);
    END LOOP;
END
$$;
-- A trigger function nobody calls directly (SECURITY DEFINER: see functions/events.sql).
REVOKE ALL ON FUNCTION pgcanary_private.emit_event_trigger() FROM PUBLIC, anon, authenticated, service_role;
-- pgcanary_writer (db/0006): emit_event, emit_events and record_event run as it. It appends
-- rows and reads back only the id it wrote (INSERT ... RETURNING event_id).
REVOKE ALL ON TABLE public.business_events FROM pgcanary_writer;
GRANT INSERT ON TABLE public.business_events TO pgcanary_writer;
GRANT SELECT (event_id) ON TABLE public.business_events TO pgcanary_writer;
DROP POLICY IF EXISTS "pgcanary_writer appends business events" ON public.business_events;
CREATE POLICY "pgcanary_writer appends business events" ON public.business_events
    FOR INSERT TO pgcanary_writer WITH CHECK (true);
DROP POLICY IF EXISTS "pgcanary_writer reads back what it appends" ON public.business_events;
CREATE POLICY "pgcanary_writer reads back what it appends" ON public.business_events
    FOR SELECT TO pgcanary_writer USING (true);
-- Explicit: a hardened project may have revoked USAGE on public from PUBLIC.
GRANT USAGE ON SCHEMA public, pgcanary_private TO pgcanary_writer;
GRANT EXECUTE ON FUNCTION pgcanary_private.validate_event(text, jsonb), pgcanary_private.scrub_pii(jsonb),
    pgcanary_private.props_pii_free(jsonb), pgcanary_private.check_json_depth(jsonb, text),
    pgcanary_private.scrub_pii_walk(jsonb, boolean), pgcanary_private.is_phone_value(jsonb),
    pgcanary_private.scrub_text(text), pgcanary_private.excerpt(text), pgcanary_private.refuse_phone_in_key(text, text, text),
    pgcanary_private.phone_prefix(text), pgcanary_private.phone_e164(text)
    TO pgcanary_writer;
