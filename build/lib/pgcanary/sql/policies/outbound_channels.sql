SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.outbound_channels ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.outbound_channels FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.outbound_channels TO service_role;
DROP POLICY IF EXISTS "service role manages outbound channels" ON public.outbound_channels;
CREATE POLICY "service role manages outbound channels" ON public.outbound_channels
    FOR ALL TO service_role USING (true) WITH CHECK (true);
