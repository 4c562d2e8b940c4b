SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
ALTER TABLE public.alert_outbox ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON TABLE public.alert_outbox FROM PUBLIC, anon, authenticated;
REVOKE ALL ON SEQUENCE public.alert_outbox_alert_id_seq FROM PUBLIC, anon, authenticated;
-- The RPCs run as their caller: service_role queues, claims and marks alerts. No DELETE: an
-- alert that was never delivered must not vanish.
GRANT SELECT, INSERT, UPDATE ON TABLE public.alert_outbox TO service_role;
DROP POLICY IF EXISTS "service role queues and delivers alerts" ON public.alert_outbox;
CREATE POLICY "service role queues and delivers alerts" ON public.alert_outbox
    FOR ALL TO service_role USING (true) WITH CHECK (true);
