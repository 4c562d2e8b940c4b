-- depends: 0003_guardrails
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
DO $$ BEGIN PERFORM pgcanary_private.refuse_existing(ARRAY['public.circuit_breakers', 'public.outbound_messages', 'public.outbound_message_audit']); END $$;  -- db/0000
-- Outbox (seed 002, gap C1) and the circuit breaker shared by all workers (gap B2).
-- Functions: functions/circuit.sql, functions/outbox.sql. Docs: docs/outbox.md, docs/circuit.md.

------------------------------------------------------------------------------------------
-- One row per breaker (the worker uses 'whatsapp', the channel the guardrail checks).
-- A breaker without a row is closed with the defaults.
CREATE TABLE public.circuit_breakers (
    name                 text PRIMARY KEY CHECK (name <> ''),
    state                text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open', 'half_open')),
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    failure_threshold    integer NOT NULL DEFAULT 5 CHECK (failure_threshold BETWEEN 1 AND 1000),
    open_seconds         integer NOT NULL DEFAULT 60 CHECK (open_seconds BETWEEN 1 AND 86400),
    open_until           timestamptz,
    probe_started_at     timestamptz,
    times_opened         bigint NOT NULL DEFAULT 0,
    last_opened_at       timestamptz,
    last_closed_at       timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT circuit_open_has_deadline CHECK (state <> 'open' OR open_until IS NOT NULL),
    CONSTRAINT circuit_half_open_has_probe CHECK (state <> 'half_open' OR probe_started_at IS NOT NULL)
);
COMMENT ON TABLE public.circuit_breakers IS
    'Circuit breakers shared by all workers: failure_threshold consecutive failures open it for open_seconds, then exactly one probe is let through (half_open); success closes it, failure re-opens it. Use circuit_allow / circuit_record.';

------------------------------------------------------------------------------------------
-- The seed's outbound_messages (same columns, names and UNIQUE dedupe_key), plus what an
-- outbox needs. The seed's raw INSERT still works: every added column has a default.
CREATE TABLE public.outbound_messages (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    dedupe_key          text UNIQUE NOT NULL,
    cliente_id          uuid NOT NULL,
    conversation_id     uuid,
    method              text NOT NULL CHECK (method <> ''),
    template_ref        text,
    status              text NOT NULL DEFAULT 'queued',
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    error               text,
    -- What the worker sends ({"number": ..., "text": ...}). NULL for the seed's flow, where
    -- the caller reserves the key and sends by itself: the worker never claims those.
    payload             jsonb,
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    lease_owner         text,
    lease_expires_at    timestamptz,
    provider_message_id text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT valid_status CHECK (status IN ('queued', 'sending', 'sent', 'failed', 'unknown')),
    CONSTRAINT payload_is_object CHECK (payload IS NULL OR jsonb_typeof(payload) = 'object'),
    CONSTRAINT sending_has_lease CHECK (status <> 'sending' OR (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);
COMMENT ON TABLE public.outbound_messages IS
    'Outbox (seed 002, gap C1): one row per outbound message, dedupe_key UNIQUE, no repeat of (cliente_id, method, template_ref) inside its dedupe window. Status: queued -> sending -> sent | failed | unknown (outcome unknown: never resent automatically; outbox_resolve). A sent message never changes status.';

-- Every status change is a non-HOT update that writes every index again, so there are few
-- of them (bench/run.py measures the cycle against a bare table).
--
-- The queue: claiming takes queued rows by next_attempt_at, lease expiry takes sending rows
-- by next_attempt_at (the lease end while sending), the metrics count by status. Queued
-- rows without a payload (the seed's flow: the caller sends) are not the worker's.
CREATE INDEX outbound_messages_queue_idx ON public.outbound_messages (status, next_attempt_at)
    WHERE status IN ('sending', 'unknown') OR (status = 'queued' AND payload IS NOT NULL);
-- No index for the dedupe window: the messages of one (client, method, template) in the
-- last N minutes are found through the UNIQUE dedupe_key, by computing the seed's key for
-- each hour the window touches (two keys for 60 minutes). See pode_enviar_com_dedupe.
-- Sends per minute and recent counts: sent_at only grows, so a block range index is nearly
-- free to maintain.
CREATE INDEX outbound_messages_sent_at_brin ON public.outbound_messages USING brin (sent_at);

-- Operator resolutions of unknown outcomes (and any other change of an unknown message,
-- whatever the path), written by a trigger: append-only for everyone else.
CREATE TABLE public.outbound_message_audit (
    audit_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  uuid NOT NULL,
    dedupe_key  text NOT NULL,
    old_status  text NOT NULL,
    new_status  text NOT NULL,
    actor       text NOT NULL,
    reason      text,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbound_message_audit_message_idx ON public.outbound_message_audit (message_id, changed_at DESC);
COMMENT ON TABLE public.outbound_message_audit IS
    'Who resolved an unknown outbound message, how and why (outbox_resolve or raw SQL). Append-only.';

-- Closed to the API before this migration commits (db/0000 says why).
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['public.circuit_breakers', 'public.outbound_messages', 'public.outbound_message_audit']::regclass[]); END $$;
