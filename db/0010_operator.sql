-- depends: 0007_lock_down_existing
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Operator correctness (docs/runbook.md, docs/outbox.md "Held and cancelled").
DO $$ BEGIN PERFORM pgcanary_private.refuse_existing(ARRAY['public.alert_outbox']); END $$;  -- db/0000

-- 1. Every flag knows its safe state, as data: the value of "enabled" (or of a boolean flag)
--    that an emergency wants. kill_flag moves a flag there and resume_flag out of it; for
--    pausar_julia "safe" is true (paused), for every other flag it is false (off). Fixed when
--    the flag is created (functions/flags.sql refuses to change it later).
ALTER TABLE public.feature_flags ADD COLUMN IF NOT EXISTS safe_enabled boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN public.feature_flags.safe_enabled IS
    'The safe state: the value of "enabled" (or of a boolean flag) that kill_flag sets and resume_flag leaves. true only for inverted flags such as pausar_julia (true = paused). Set when the flag is created; it cannot be changed afterwards.';
UPDATE public.feature_flags SET safe_enabled = true WHERE flag_key = 'pausar_julia' AND NOT safe_enabled;

-- 2. A blocked message is held (temporary condition) or cancelled (permanent), as the
--    guardrail's verdict says. 'cancelled' is final like sent and failed, but it is not a
--    provider failure: it does not count against the delivery SLOs.
ALTER TABLE public.outbound_messages DROP CONSTRAINT valid_status;
ALTER TABLE public.outbound_messages ADD CONSTRAINT valid_status
    CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'unknown', 'cancelled'));
ALTER TABLE public.outbound_messages
    ADD COLUMN IF NOT EXISTS block_reason text,
    ADD COLUMN IF NOT EXISTS held_count integer NOT NULL DEFAULT 0 CHECK (held_count >= 0);
COMMENT ON COLUMN public.outbound_messages.block_reason IS
    'The guardrail''s last block: while queued, why it is held (until next_attempt_at); when cancelled, why it ended.';
-- How long a held message may wait before it is cancelled as stale (a campaign paused for
-- a week should not go out a week late).
ALTER TABLE public.outbound_methods
    ADD COLUMN IF NOT EXISTS max_hold interval NOT NULL DEFAULT '24 hours'
        CHECK (max_hold BETWEEN interval '1 minute' AND interval '7 days');
COMMENT ON COLUMN public.outbound_methods.max_hold IS
    'A message of this method held by a temporary block (paused, campaigns off, outside hours, rate limited, circuit open) is cancelled as expired_while_held once it is older than this.';
UPDATE public.outbound_methods SET max_hold = interval '2 hours' WHERE method = 'reply' AND max_hold = interval '24 hours';

-- 3. Alerts are not lost: the guard's P0 and the daily panel are rows here, in the same
--    transaction as what they report, and the scheduler posts them until Slack accepts.
CREATE TABLE public.alert_outbox (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,39}$'),
    text            text NOT NULL CHECK (length(text) BETWEEN 1 AND 3000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text CHECK (length(last_error) <= 300)
);
CREATE INDEX alert_outbox_pending_idx ON public.alert_outbox (next_attempt_at) WHERE delivered_at IS NULL;
COMMENT ON TABLE public.alert_outbox IS
    'Slack alerts waiting to be posted (guard P0, daily panel): written in the transaction that decides them, posted by the scheduler''s alerts job until Slack accepts (alert_claim / alert_delivered / alert_failed). No client data.';

-- Closed to the API before this migration commits (db/0000 says why).
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['public.alert_outbox', 'public.feature_flags', 'public.outbound_messages', 'public.outbound_methods']::regclass[]); END $$;
