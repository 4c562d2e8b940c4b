-- depends: 0010_operator
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- No PII kept past its use (DESIGN.md invariant 6; docs/outbox.md "Retention"): a message's
-- payload (the phone number and the text) is dropped when the message reaches a final state
-- (sent, failed, cancelled); its sha256 stays for reconciliation with the provider's
-- history. functions/outbox.sql's trigger does it from now on; this migration does it for
-- the rows an older install kept.
ALTER TABLE public.outbound_messages ADD COLUMN IF NOT EXISTS payload_sha256 bytea;
COMMENT ON COLUMN public.outbound_messages.payload_sha256 IS
    'sha256 of the payload''s JSON text, kept when the payload is dropped at a final state (sent, failed, cancelled): compare with sha256 of a candidate payload to reconcile.';
UPDATE public.outbound_messages
   SET payload_sha256 = sha256(convert_to(payload::text, 'UTF8')), payload = NULL
 WHERE status IN ('sent', 'failed', 'cancelled') AND payload IS NOT NULL;
