SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.outbound_messages ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.outbound_messages FROM PUBLIC, anon, authenticated;
-- The seed's Python inserts and updates the table directly (supabase.table(...)); the status
-- guard trigger and the window constraint hold on that path too.
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.outbound_messages TO service_role;
DROP POLICY IF EXISTS "service role manages the outbox" ON public.outbound_messages;
CREATE POLICY "service role manages the outbox" ON public.outbound_messages
    FOR ALL TO service_role USING (true) WITH CHECK (true);
