-- depends: 0001_foundation
SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
DO $$ BEGIN PERFORM pgcanary_private.refuse_existing(ARRAY['public.business_event_types']); END $$;  -- db/0000
-- Business events (seed 000, Stories 8.2-8.3; seed 002, queries Q1-Q5): the event-type
-- registry, the time-partitioned business_events table, and the hourly rollup that keeps
-- the rollout metrics fast at 10M+ rows. Functions, triggers and grants: functions/events.sql
-- and policies/business_event*.sql. Docs: docs/events.md.

-- The seed's system may already have a business_events table. It cannot be turned into a
-- partitioned table in place, and guessing a copy of someone's data is worse than stopping.
DO $$
BEGIN
    IF to_regclass('public.business_events') IS NOT NULL THEN
        RAISE EXCEPTION 'public.business_events already exists and is not ours'
            USING ERRCODE = 'PC019',
                  DETAIL = 'pgcanary creates business_events partitioned by day; an existing table cannot be converted in place.',
                  HINT = 'ALTER TABLE public.business_events RENAME TO business_events_legacy; migrate; then INSERT INTO business_events (...) SELECT ... FROM business_events_legacy (the insert trigger scrubs PII on the way).';
    END IF;
END
$$;

-- The registry: an event type must be registered before it is emitted (a typo in an emitter
-- is refused instead of creating a new type nobody queries). Types are never deleted:
-- events refer to them (service_role has no DELETE, see policies/business_event_types.sql).
CREATE TABLE public.business_event_types (
    event_type  text PRIMARY KEY CHECK (event_type ~ '^[a-z][a-z0-9_]{0,62}$'),
    category    text NOT NULL CHECK (category ~ '^[a-z][a-z0-9_]{0,62}$'),
    description text NOT NULL CHECK (btrim(description) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.business_event_types IS
    'Registry of business event types. emit_event and every insert into business_events refuse an unregistered type (PC010). Register with register_event_type() or INSERT.';

INSERT INTO public.business_event_types (event_type, category, description) VALUES
    -- Guardrails (seed 002: check_outbound_guardrails records these, Q2-Q5 read them).
    ('outbound_blocked',          'guardrail', 'An outbound message was refused by check_outbound_guardrails; props: block_reason, channel, method'),
    ('outbound_bypass',           'guardrail', 'A guardrail was bypassed on purpose; props: block_reason, bypass_reason, channel, method'),
    ('outbound_fallback',         'guardrail', 'A legacy call site sent without the sovereign guardrail (must be zero, Q5); props: function, telefone_prefix'),
    ('guard_action',              'guardrail', 'The guard job acted on an SLO breach (rollback, pause); props: action, slo, value'),
    -- Outbox (seed 002, gap C1).
    ('outbound_sent',             'outbox',    'The provider accepted an outbound message; props: method, channel'),
    ('outbound_failed',           'outbox',    'The provider refused an outbound message (not retried further); props: method, error_class'),
    ('outbound_unknown_outcome',  'outbox',    'A send whose outcome is unknown (timeout after the request left, worker died mid-send): held for reconciliation, never resent'),
    -- External handoff (seed 002, Ponte Externa).
    ('handoff_opened',            'handoff',   'An external handoff was opened for a vaga'),
    ('handoff_confirmed',         'handoff',   'The external party confirmed the handoff'),
    ('handoff_closed',            'handoff',   'The handoff was closed (done, expired or cancelled); props: outcome'),
    -- Consent.
    ('opt_out',                   'consent',   'The client asked to receive no more messages'),
    ('opt_in',                    'consent',   'The client agreed to receive messages again'),
    -- Funnel (seed 000 Story 8.4: "funil calculando", response_rate ~ 20-40%; seed 002: campaigns, replies, vagas).
    ('conversation_started',      'funnel',    'A conversation with the client began (first message either way)'),
    ('inbound_received',          'funnel',    'The client sent a message; response_rate = inbound_received / outbound_sent'),
    ('offer_made',                'funnel',    'A vaga (job opening) was offered to the client; props: vaga_id'),
    ('offer_accepted',            'funnel',    'The client accepted an offered vaga; props: vaga_id'),
    ('offer_declined',            'funnel',    'The client declined an offered vaga; props: vaga_id, reason'),
    -- Operations (seed 002, gap B1 logs "campaigns_toggled").
    ('campaigns_toggled',         'ops',       'Campaigns were switched on or off (toggle_campanhas); props: enabled')
ON CONFLICT (event_type) DO NOTHING;

-- The events. Partitioned by day on ts so that retention is DROP TABLE of old days (no
-- bulk DELETE, no bloat) and the 24 h queries touch two partitions whatever the table size.
-- A partitioned table's unique key must contain the partition key, hence (event_id, ts);
-- event_id alone is a random UUID (gen_random_uuid), unique in practice.
CREATE TABLE public.business_events (
    event_id        uuid        NOT NULL DEFAULT gen_random_uuid(),
    ts              timestamptz NOT NULL DEFAULT now(),
    event_type      text        NOT NULL,
    cliente_id      uuid,
    conversation_id uuid,
    event_props     jsonb       NOT NULL DEFAULT '{}',
    source          text        NOT NULL DEFAULT 'sql',
    CONSTRAINT business_events_pkey PRIMARY KEY (event_id, ts),
    CONSTRAINT business_events_props_is_object CHECK (jsonb_typeof(event_props) = 'object'),
    CONSTRAINT business_events_source_length CHECK (char_length(source) BETWEEN 1 AND 63)
) PARTITION BY RANGE (ts);
COMMENT ON TABLE public.business_events IS
    'Business events (seed 000 8.2). Append-only facts; phone numbers are stored only as telefone_prefix (scrubbed by a BEFORE trigger on every path). Partitioned by UTC day; see docs/events.md for retention.';
COMMENT ON COLUMN public.business_events.source IS
    'Who wrote the row: backend (emit_event), trigger (emit_event_trigger), sql (a raw INSERT), or a capability name (guardrails, outbox).';

-- Indexes, each for a reader (docs/events.md, "Indexes"):
--   (ts, event_type): the rollout metrics count events by type over a time range with an
--     index-only scan, and Q1 reads the last 24 h through it.
--   (event_type, ts): Q2-Q5 each pick one or two types in the last 24 h (Q5 newest first).
CREATE INDEX business_events_ts_type_idx ON public.business_events (ts, event_type);
CREATE INDEX business_events_type_ts_idx ON public.business_events (event_type, ts);

-- Rows whose day has no partition yet (a far backdated INSERT, or the maintenance job not
-- having run) land here instead of failing the writer; maintenance moves them out.
CREATE TABLE pgcanary_private.business_events_default PARTITION OF public.business_events DEFAULT;

-- Hourly counts of closed hours, so the rollout metrics read ~24 small rows per type plus
-- the last 1-2 hours live, instead of counting a million rows (functions/events.sql,
-- refresh_event_rollup). sealed_until: the rollup is complete for hours before it.
CREATE TABLE pgcanary_private.business_event_hourly (
    hour       timestamptz NOT NULL,
    event_type text        NOT NULL,
    events     bigint      NOT NULL CHECK (events >= 0),
    PRIMARY KEY (hour, event_type)
);
-- Rows written into hours the rollup had already sealed (backdated INSERTs), one row each,
-- append-only: counting them into business_event_hourly directly made writers that touch
-- several hours deadlock on the counters. refresh_event_rollup folds them in.
CREATE TABLE pgcanary_private.business_event_late (
    hour       timestamptz NOT NULL,
    event_type text        NOT NULL
);
CREATE INDEX business_event_late_hour_idx ON pgcanary_private.business_event_late (hour);
CREATE TABLE pgcanary_private.business_event_rollup_state (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    sealed_until timestamptz,
    refreshed_at timestamptz
);
INSERT INTO pgcanary_private.business_event_rollup_state (singleton) VALUES (true);

-- Closed to the API before this migration commits (db/0000 says why).
DO $$ BEGIN PERFORM pgcanary_private.lock_down(ARRAY['public.business_event_types', 'public.business_events', 'pgcanary_private.business_event_hourly', 'pgcanary_private.business_event_late', 'pgcanary_private.business_event_rollup_state']::regclass[]); END $$;
