SET LOCAL search_path TO pg_catalog, pg_temp;
DROP TABLE IF EXISTS public.alert_outbox;
ALTER TABLE public.outbound_methods DROP COLUMN IF EXISTS max_hold;
ALTER TABLE public.outbound_messages DISABLE TRIGGER USER;  -- cancelled -> failed is not a live transition
UPDATE public.outbound_messages SET status = 'failed', error = coalesce(error, 'cancelled: ' || block_reason) WHERE status = 'cancelled';
ALTER TABLE public.outbound_messages ENABLE TRIGGER USER;
ALTER TABLE public.outbound_messages DROP CONSTRAINT valid_status;
ALTER TABLE public.outbound_messages ADD CONSTRAINT valid_status CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'unknown'));
ALTER TABLE public.outbound_messages DROP COLUMN IF EXISTS block_reason, DROP COLUMN IF EXISTS held_count;
-- feature_flags.safe_enabled stays, like the columns db/0001 adds: the table may be the user's,
-- and the safe state of their flags is theirs (it also keeps the column order on re-apply).
