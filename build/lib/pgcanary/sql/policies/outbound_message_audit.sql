SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.outbound_message_audit ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.outbound_message_audit FROM PUBLIC, anon, authenticated, service_role;
-- Append-only: rows come from the SECURITY DEFINER trigger on outbound_messages.
GRANT SELECT ON TABLE public.outbound_message_audit TO service_role;
REVOKE ALL ON FUNCTION pgcanary_private.outbound_messages_audit() FROM PUBLIC, anon, authenticated, service_role;
DROP POLICY IF EXISTS "service role reads outbox resolutions" ON public.outbound_message_audit;
CREATE POLICY "service role reads outbox resolutions" ON public.outbound_message_audit
    FOR SELECT TO service_role USING (true);
